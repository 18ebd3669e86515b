//! The command line: `serve`, `migrate`, `user add|list`, `role …`, `apikey …`, `keys rotate`.

mod api_keys;
mod roles;

use std::{io::IsTerminal, path::PathBuf};

use clap::{Parser, Subcommand};

use crate::{
    app,
    config::Settings,
    core::{Registration, RequestContext},
    domain::{Email, Username},
};

#[derive(Parser)]
#[command(
    name = "castellan",
    version,
    about = "Authentication server: accounts, JWTs, sessions"
)]
pub struct Cli {
    /// TOML configuration file (also CASTELLAN_CONFIG).
    #[arg(long, global = true, env = "CASTELLAN_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (creates the database and signing keys on first start).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage roles and who holds them.
    Role {
        #[command(subcommand)]
        command: roles::RoleCommand,
    },
    /// Manage API keys of users (service accounts).
    Apikey {
        #[command(subcommand)]
        command: api_keys::ApiKeyCommand,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input or a prompt.
    Add {
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        superuser: bool,
        /// Grant a role (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
    },
    /// Print users (all, or those whose username or email contains SEARCH) as JSON lines.
    List { search: Option<String> },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key active; old public keys stay published until their tokens expire.
    Rotate,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    app::init_logging(&settings);
    match cli.command {
        Command::Serve => app::serve(settings).await,
        Command::Migrate => {
            let store = app::open_store(&settings).await?;
            println!("migrations applied ({})", store.backend());
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    email,
                    superuser,
                    mut roles,
                    first_name,
                    last_name,
                },
        } => {
            let core = app::build_core(settings).await?;
            let username =
                Username::parse(&username).map_err(|m| anyhow::anyhow!("username: {m}"))?;
            let email = Email::parse(&email).map_err(|m| anyhow::anyhow!("email: {m}"))?;
            let raw = read_password()?;
            let password = core
                .new_password(&raw, &[username.as_str(), email.as_str()])
                .map_err(|m| anyhow::anyhow!("password: {m}"))?;
            if !roles.iter().any(|r| r == "user") {
                roles.insert(0, "user".into());
            }
            let registration = Registration {
                username,
                email,
                password,
                first_name,
                last_name,
                is_superuser: superuser,
                roles,
            };
            let user = core
                .register(registration, &RequestContext::default())
                .await
                .map_err(describe)?;
            println!("{}", serde_json::to_string(&user)?);
            Ok(())
        }
        Command::Role { command } => roles::run_role(settings, command).await,
        Command::Apikey { command } => api_keys::run(settings, command).await,
        Command::User {
            command: UserCommand::List { search },
        } => roles::list_users(settings, search).await,
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let core = app::build_core(settings).await?;
            let kid = core.keys.rotate(&core.store, core.clock.now()).await?;
            println!("{kid}");
            Ok(())
        }
    }
}

fn describe(e: crate::core::CoreError) -> anyhow::Error {
    match e {
        crate::core::CoreError::UserExists(f) | crate::core::CoreError::Validation(f) => {
            anyhow::anyhow!("{}", f.to_json())
        }
        other => anyhow::anyhow!("{other}"),
    }
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password (again): ")?;
        anyhow::ensure!(first == second, "the passwords do not match");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}
