//! `castellan apikey …`: API keys for service accounts, made from the command line through
//! the same core operations as `/auth/api-keys`.

use clap::Subcommand;

use crate::{
    app,
    config::Settings,
    core::{NewApiKey, RequestContext},
};

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for USER (username or email); prints it once, as JSON with `key`.
    Add {
        user: String,
        #[arg(long)]
        name: String,
        /// A permission the key may use (repeatable; the user must hold it).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime in seconds; none means the key does not expire.
        #[arg(long)]
        expires_in: Option<i64>,
    },
    /// Print USER's keys (without secrets), one JSON object per line.
    List { user: String },
    /// Revoke USER's key ID; it stops working at once.
    Revoke { user: String, id: String },
}

pub async fn run(settings: Settings, command: ApiKeyCommand) -> anyhow::Result<()> {
    let core = app::build_core(settings).await?;
    let ctx = RequestContext::default();
    match command {
        ApiKeyCommand::Add {
            user,
            name,
            scopes,
            expires_in,
        } => {
            let id = super::roles::user_id(&core, &user).await?;
            let new = NewApiKey {
                name,
                scopes,
                expires_in,
            };
            let (view, key) = core
                .create_api_key(id, new, &ctx)
                .await
                .map_err(super::describe)?;
            let mut out = serde_json::to_value(&view)?;
            if let Some(map) = out.as_object_mut() {
                map.insert("key".into(), key.into());
            }
            println!("{out}");
        }
        ApiKeyCommand::List { user } => {
            let id = super::roles::user_id(&core, &user).await?;
            for key in core.api_keys(id).await.map_err(super::describe)? {
                println!("{}", serde_json::to_string(&key)?);
            }
        }
        ApiKeyCommand::Revoke { user, id } => {
            let owner = super::roles::user_id(&core, &user).await?;
            core.revoke_api_key(owner, &id, &ctx)
                .await
                .map_err(|e| match e {
                    crate::core::CoreError::NotFound => {
                        anyhow::anyhow!("{user} has no live key {id}")
                    }
                    other => super::describe(other),
                })?;
        }
    }
    Ok(())
}
