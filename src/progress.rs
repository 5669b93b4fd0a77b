//! Progress on stderr while apply works: a bar redrawn in place on a
//! terminal, one plain line per finished release otherwise (CI logs).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

pub struct Progress {
    total: usize,
    state: Mutex<usize>,
    terminal: bool,
}

const BAR_WIDTH: usize = 30;

impl Progress {
    pub fn new(total: usize) -> Self {
        let terminal = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Progress {
            total,
            state: Mutex::new(0),
            terminal,
        }
    }

    /// Records one finished release and says what happened to it.
    pub fn finished(&self, line: &str) {
        let mut done = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *done += 1;
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let filled = BAR_WIDTH * *done / self.total.max(1);
            let _ = write!(
                err,
                "\r\x1b[2K{line}\n[{}{}] {}/{}",
                "=".repeat(filled),
                " ".repeat(BAR_WIDTH - filled),
                *done,
                self.total
            );
            if *done == self.total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "[{}/{}] {line}", *done, self.total);
        }
        let _ = err.flush();
    }
}
