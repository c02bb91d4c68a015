//! `tessera-device`: a simulated device (see `tessera_edge::cli`).

fn main() {
    if let Err(e) = tessera_edge::cli::run_from(std::env::args_os()) {
        eprintln!("error: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            eprintln!("  caused by: {s}");
            source = s.source();
        }
        std::process::exit(2);
    }
}
