// An upstream OpenID Connect provider for the federation tests: panva's oidc-provider
// (OpenID Certified) on 127.0.0.1:$PORT, with one confidential client whose redirect URI is
// $REDIRECT_URI, and its development login and consent pages (any password is accepted).
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'given_name', 'family_name'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.net`,
          email_verified: true,
          preferred_username: id,
          given_name: 'Grace',
          family_name: 'Hopper',
        };
      },
    };
  },
  pkce: { required: () => true },
});

provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error', err));

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${issuer}`);
});
