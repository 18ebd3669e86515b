//! The command line: `serve`, `config`, `check`, `migrate`, `user add|list`, `role …`, `apikey …`, `keys rotate`,
//! `import users`, `passwords calibrate`.

mod api_keys;
mod clients;
mod roles;
mod settings_view;

use std::{io::IsTerminal, path::PathBuf};

use clap::{Parser, Subcommand};

use crate::{
    app,
    config::Settings,
    core::{Registration, RequestContext},
    domain::{Email, Username},
    import,
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
    /// Print the effective configuration (defaults, file, environment) with secrets masked.
    Config,
    /// Validate the configuration without starting; the exit status tells.
    Check,
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
    /// Manage OAuth 2.0 / OpenID Connect clients.
    Client {
        #[command(subcommand)]
        command: clients::ClientCommand,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Password hashing: measure the configured argon2id cost on this machine.
    Passwords {
        #[command(subcommand)]
        command: PasswordsCommand,
    },
    /// Import from the system Castellan replaces.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Import users with their password hashes. Every record is checked first; if one is
    /// rejected nothing is written. Re-running updates or skips, never duplicates.
    Users {
        /// The export: JSON lines, CSV with a header row, or `manage.py dumpdata auth.user`.
        file: PathBuf,
        /// The file's format; guessed from its name and content when absent.
        #[arg(long, value_enum)]
        format: Option<import::Format>,
        /// Check and report without writing anything.
        #[arg(long)]
        dry_run: bool,
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
pub enum PasswordsCommand {
    /// Hash N times with the configured parameters and print the time per hash and the
    /// login rate it allows: one hash per login, as many hashes at once as there are cores,
    /// measured running that way.
    Calibrate {
        #[arg(long, default_value_t = 20)]
        rounds: u32,
    },
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
        Command::Config => {
            print!("{}", settings_view::masked_toml(&settings)?);
            Ok(())
        }
        // Loading validated the settings already.
        Command::Check => {
            println!("configuration is valid");
            Ok(())
        }
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
                email: Some(email),
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
        Command::Import {
            command:
                ImportCommand::Users {
                    file,
                    format,
                    dry_run,
                },
        } => import_users(settings, &file, format, dry_run).await,
        Command::Passwords {
            command: PasswordsCommand::Calibrate { rounds },
        } => {
            let per_hash =
                crate::core::PasswordHasher::calibrate(&settings.passwords, rounds.max(1))?;
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            // The bound is what `cores` hashes running at once achieve, as the hashing
            // threads run them, not cores ÷ one hash's time: parallel hashes contend.
            let parallel = crate::core::PasswordHasher::parallel_rate(
                &settings.passwords,
                rounds.max(1),
                cores,
            )?;
            let ms = per_hash.as_secs_f64() * 1000.0;
            println!(
                "{}",
                serde_json::json!({
                    "ms_per_hash": (ms * 100.0).round() / 100.0,
                    "cores": cores,
                    "serial_bound_per_second": ((cores as f64 / per_hash.as_secs_f64()) * 10.0).round() / 10.0,
                    "login_bound_per_second": (parallel * 10.0).round() / 10.0,
                })
            );
            Ok(())
        }
        Command::Role { command } => roles::run_role(settings, command).await,
        Command::Apikey { command } => api_keys::run(settings, command).await,
        Command::Client { command } => clients::run(settings, command).await,
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

async fn import_users(
    settings: Settings,
    file: &std::path::Path,
    format: Option<import::Format>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let content = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let format = format.unwrap_or_else(|| import::Format::detect(file, &content));
    let rows = import::read(format, &content)?;
    let core = app::build_core(settings).await?;
    let report = core
        .import_users(rows, dry_run, &RequestContext::default())
        .await
        .map_err(describe)?;
    for (locator, reason) in &report.rejected {
        println!("rejected {locator}: {reason}");
    }
    println!(
        "{} created, {} updated, {} skipped, {} rejected",
        report.created,
        report.updated,
        report.skipped,
        report.rejected.len()
    );
    if !report.rejected.is_empty() {
        anyhow::bail!(
            "nothing was imported: {} record(s) rejected; fix them and run the import again",
            report.rejected.len()
        );
    }
    if !report.written {
        println!("dry run: nothing was written");
    }
    Ok(())
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
