//! `castellan role …` and `castellan user list`: roles and users from the command line,
//! through the same core operations as the admin API.

use clap::Subcommand;

use crate::{
    app,
    config::Settings,
    core::{Actor, Core, RequestContext},
    store::RoleRow,
};

#[derive(Subcommand)]
pub enum RoleCommand {
    /// Create a role holding the given permissions.
    Add {
        name: String,
        /// A permission such as users:read (repeatable).
        #[arg(long = "permission", short = 'p')]
        permissions: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Give USER (username or email) the role ROLE; effective on the user's next token.
    Grant { user: String, role: String },
    /// Take ROLE away from USER.
    Revoke { user: String, role: String },
    /// Print every role with its permissions, one JSON object per line.
    List,
}

pub async fn run_role(settings: Settings, command: RoleCommand) -> anyhow::Result<()> {
    let core = app::build_core(settings).await?;
    let operator = Actor::operator();
    let ctx = RequestContext::default();
    match command {
        RoleCommand::Add {
            name,
            permissions,
            description,
        } => {
            let role = RoleRow {
                name,
                description,
                permissions,
            };
            let role = core
                .create_role(&operator, role, &ctx)
                .await
                .map_err(super::describe)?;
            println!("{}", role_json(&role));
        }
        RoleCommand::Grant { user, role } => {
            let id = user_id(&core, &user).await?;
            let user = core
                .grant_role(&operator, id, &role, &ctx)
                .await
                .map_err(super::describe)?;
            println!("{}", serde_json::to_string(&user)?);
        }
        RoleCommand::Revoke { user, role } => {
            let id = user_id(&core, &user).await?;
            core.revoke_role(&operator, id, &role, &ctx)
                .await
                .map_err(|e| match e {
                    crate::core::CoreError::NotFound => {
                        anyhow::anyhow!("{user} does not hold the role {role}")
                    }
                    other => super::describe(other),
                })?;
        }
        RoleCommand::List => {
            for role in core.roles().await.map_err(super::describe)? {
                println!("{}", role_json(&role));
            }
        }
    }
    Ok(())
}

/// `castellan user list`: users matching SEARCH (all when absent), one JSON object per line.
pub async fn list_users(settings: Settings, search: Option<String>) -> anyhow::Result<()> {
    let core = app::build_core(settings).await?;
    let mut offset = 0;
    loop {
        let page = core
            .list_users(search.as_deref().unwrap_or_default(), 500, offset)
            .await
            .map_err(super::describe)?;
        for user in &page.items {
            println!("{}", serde_json::to_string(user)?);
        }
        offset += page.items.len() as i64;
        if page.items.is_empty() || offset >= page.total {
            return Ok(());
        }
    }
}

/// The id of the user named by a username or an email address.
pub(super) async fn user_id(core: &Core, login: &str) -> anyhow::Result<i64> {
    let row = core
        .store
        .find_user_by_login(&login.trim().to_lowercase())
        .await?;
    row.map(|u| u.id)
        .ok_or_else(|| anyhow::anyhow!("no user {login}"))
}

fn role_json(r: &RoleRow) -> serde_json::Value {
    serde_json::json!({"name": r.name, "description": r.description, "permissions": r.permissions})
}
