use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = castellan::cli::Cli::parse();
    match castellan::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("castellan: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
