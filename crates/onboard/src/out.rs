//! Standard output for every command. A closed pipe (`onboard --json runs | head -1`) ends
//! the process quietly with success, as `head` and `grep -q` users expect, instead of the
//! panic `println!` raises; any other write error is reported on stderr once and ends the
//! process with failure.

use std::io::Write as _;

/// Writes `text` to stdout and flushes it.
pub fn write(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`write()`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::write(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`write()`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(&format!($($arg)*))
    };
}

pub(crate) use {out, outln};
