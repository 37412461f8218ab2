use clap::Parser;

// jemalloc, with background threads purging freed pages: the system
// allocators (glibc's arenas, musl's in the image) keep the peak of a burst of
// sessions resident long after the sessions expired.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    hangar::run(hangar::Cli::parse())
}
