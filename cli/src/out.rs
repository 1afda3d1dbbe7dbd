//! Standard output for the commands. A reader that goes away early
//! (`datahub inspect --watch | head -2`) ends the command quietly with
//! status 0, as it ends `cat`: no panic, no message. Rust ignores SIGPIPE,
//! so without this `println!` would panic on the closed pipe.

use std::io::Write;

/// Writes `text` to standard output and flushes it; exits with status 0,
/// silently, when the reader has closed the pipe.
pub(crate) fn write(text: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(text).and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        // Standard output gone some other way (a full disk behind a
        // redirection): say so once, and stop.
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(3);
        }
    }
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// `println!` through [`write`].
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// What a command says when a segment it has mapped shrinks under it.
const TRUNCATED: &str = "error[DH204]: a segment shrank while this command had it mapped (another \
process truncated its file under /dev/shm): the command stopped there; run it again, and \
`datahub diagnose CHANNEL` shows what is there now\n";

/// Turns SIGBUS (a segment file truncated while this process has it
/// mapped: `recover` and `cleanup` map a segment to act on it) into an
/// error message and exit status 3, instead of a crash. Read-only
/// commands never map a segment (they read a private copy).
pub(crate) fn exit_on_truncated_segment() {
    let handler = || {
        // Async-signal-safe: one write(2) of a static message, then
        // _exit(2). Returning would re-run the faulting access.
        let _ = rustix::io::write(rustix::stdio::stderr(), TRUNCATED.as_bytes());
        signal_hook::low_level::exit(3);
    };
    use signal_hook::{consts::SIGBUS, low_level::register};
    // SIGBUS is not among signal-hook's forbidden signals.
    // SAFETY: the handler makes only async-signal-safe calls (write, _exit),
    // allocates nothing and takes no lock.
    let registered = unsafe { register(SIGBUS, handler) };
    if let Err(e) = registered {
        tracing::debug!("no SIGBUS handler: {e}");
    }
}
