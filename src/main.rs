use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    return_large_blocks_to_the_os();
    let cli = castellan::cli::Cli::parse();
    match castellan::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("castellan: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc raises its mmap threshold each time a large block is freed, after which the 19 MiB
/// argon2 working memory stays in the heap for good: a few logins would leave the process
/// at several times its idle size. A fixed threshold maps and unmaps such blocks per hash
/// (a page-fault cost of a few percent of the hash), so memory returns after load.
fn return_large_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tuning; it is called before any other thread
    // exists and its return value (success flag) needs no handling.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
