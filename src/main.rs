//! The `ttn-exporter` binary: parse, set up logging, build, run.

use std::process::ExitCode;

use ttn_exporter::cli::check;
use ttn_exporter::cli::{Args, Command};
use ttn_exporter::config::EX_CONFIG;
use ttn_exporter::daemon::{self, Loader};
use ttn_exporter::exit::Fatal;
use ttn_exporter::server::Limits;
use ttn_exporter::systemd;

fn main() -> ExitCode {
    // One malloc arena for all threads: a refresh's allocations, made on
    // whichever worker polls it and on the render thread, then reuse the
    // same free memory instead of leaving a copy in each thread's arena.
    // Blocks of 128 KiB and more (the gateway list, API answers, the gzip
    // body) are mapped on their own and unmapped when freed: a fixed
    // threshold, where glibc would otherwise raise it to the largest block
    // freed and put those blocks in the heap, whose free holes stay
    // resident (docs/performance.md: 50 -> 43 MiB at 10,000 gateways).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any other thread exists; only sets limits.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    // Before any thread: use all the descriptors the hard limit allows.
    let nofile = ttn_exporter::fds::raise_nofile_limit();
    let args = Args::parse_with_defaults();
    // Read the systemd socket before any thread exists.
    let listener = match systemd::take_listener() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ttn-exporter: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    ttn_exporter::logging::init_logging(args.log_format);
    let loader = Loader {
        config_path: args.config.clone(),
        overrides: args.overrides.clone(),
        // `check` sees what ttn.service sees: its EnvironmentFile too.
        env_file: matches!(args.command, Some(Command::Check))
            .then(|| ttn_exporter::config::environment::ENV_FILE.into()),
    };
    let loaded = match loader.load() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let limits = match nofile {
        Ok(n) => Limits::for_fd_limit(n, loaded.config.events),
        Err(e) => {
            tracing::warn!("cannot read RLIMIT_NOFILE ({e}); assuming 1024");
            Limits::for_fd_limit(1024, loaded.config.events)
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            Some(Command::Check) => check::check(loaded.config).await.map_err(Fatal::from),
            None => daemon::run(loader, loaded, listener, limits).await,
        }
    });
    // A reload stuck on a file (given up after its timeout) must not keep
    // the process from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::from(e.code())
        }
    }
}
