use clap::Parser;

fn main() -> std::process::ExitCode {
    hangar::run(hangar::Cli::parse())
}
