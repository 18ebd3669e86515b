//! `castellan client …`: OAuth clients, made from the command line through the same core
//! operations as `/admin/clients`.

use clap::Subcommand;

use crate::{
    app,
    config::Settings,
    core::{Actor, NewClient, RequestContext},
};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register CLIENT_ID; prints it as JSON with `client_secret` (null for public clients).
    Add {
        client_id: String,
        /// An exact redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A client that cannot keep a secret (it must use PKCE).
        #[arg(long)]
        public: bool,
        /// Trusted: its users are not asked for consent.
        #[arg(long)]
        first_party: bool,
        /// authorization_code, refresh_token or client_credentials (repeatable).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// A scope the client may request (repeatable; default openid profile email offline_access).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Signature algorithm of its ID tokens: RS256 (default), EdDSA or ES256.
        #[arg(long)]
        id_token_alg: Option<String>,
    },
    /// Print every client (without secrets), one JSON object per line.
    List,
    /// Remove CLIENT_ID.
    Remove { client_id: String },
    /// Give CLIENT_ID a new secret; the old one stops working at once.
    RotateSecret { client_id: String },
}

pub async fn run(settings: Settings, command: ClientCommand) -> anyhow::Result<()> {
    let core = app::build_core(settings).await?;
    let ctx = RequestContext::default();
    let operator = Actor::operator();
    match command {
        ClientCommand::Add {
            client_id,
            redirect_uris,
            public,
            first_party,
            grant_types,
            scopes,
            id_token_alg,
        } => {
            let new = NewClient {
                client_id,
                redirect_uris,
                grant_types,
                scopes,
                public,
                first_party,
                id_token_alg,
            };
            let (client, secret) = core
                .add_client(&operator, new, &ctx)
                .await
                .map_err(super::describe)?;
            let mut out = serde_json::to_value(&client)?;
            if let Some(map) = out.as_object_mut() {
                map.insert("client_secret".into(), secret.into());
            }
            println!("{out}");
        }
        ClientCommand::List => {
            for client in core.clients().await.map_err(super::describe)? {
                println!("{}", serde_json::to_string(&client)?);
            }
        }
        ClientCommand::Remove { client_id } => {
            core.remove_client(&operator, &client_id, &ctx)
                .await
                .map_err(super::describe)?;
            println!("{}", serde_json::json!({"removed": client_id}));
        }
        ClientCommand::RotateSecret { client_id } => {
            let secret = core
                .rotate_client_secret(&operator, &client_id, &ctx)
                .await
                .map_err(super::describe)?;
            println!(
                "{}",
                serde_json::json!({"client_id": client_id, "client_secret": secret})
            );
        }
    }
    Ok(())
}
