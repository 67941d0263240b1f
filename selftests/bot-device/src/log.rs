//! The event log the tests grep: one line per event, each written with a single
//! `write(2)` on a file opened with O_APPEND, so lines are complete and on disk
//! (in the page cache) as soon as they are logged.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Mutex;

enum Sink {
    File(File),
    #[cfg(test)]
    Memory(Vec<String>),
}

pub struct Logger {
    sink: Mutex<Sink>,
}

impl Logger {
    /// Appends to `path`, creating it.
    pub fn open(path: &str) -> io::Result<Logger> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Logger {
            sink: Mutex::new(Sink::File(f)),
        })
    }

    /// Keeps the lines in memory (unit tests).
    #[cfg(test)]
    pub fn memory() -> Logger {
        Logger {
            sink: Mutex::new(Sink::Memory(Vec::new())),
        }
    }

    pub fn line(&self, text: &str) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *sink {
            Sink::File(f) => {
                let mut buf = String::with_capacity(text.len() + 1);
                buf.push_str(text);
                buf.push('\n');
                // Nothing sensible to do when the log cannot be written.
                let _ = f.write_all(buf.as_bytes());
            }
            #[cfg(test)]
            Sink::Memory(v) => v.push(text.to_string()),
        }
    }

    /// The lines kept by a [`Logger::memory`] logger.
    #[cfg(test)]
    pub fn lines(&self) -> Vec<String> {
        match &*self.sink.lock().unwrap() {
            Sink::Memory(v) => v.clone(),
            Sink::File(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_whole_lines() {
        let path = std::env::temp_dir().join(format!("ub-bot-device-log-{}", std::process::id()));
        let p = path.to_str().unwrap();
        let _ = std::fs::remove_file(p);
        Logger::open(p).unwrap().line("ready");
        let l = Logger::open(p).unwrap();
        l.line("cmd 1");
        l.line("csw 1 status=0 residue=0");
        assert_eq!(
            std::fs::read_to_string(p).unwrap(),
            "ready\ncmd 1\ncsw 1 status=0 residue=0\n"
        );
        std::fs::remove_file(p).unwrap();
    }
}
