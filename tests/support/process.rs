//! Child processes that cannot outlive their test: the real `recalld` binary
//! (daemon, sandbox, demo), its output captured line by line, killed and
//! reaped when the [`Process`] is dropped, on failure too.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::wait;

/// Lines of output kept in memory, shared with the thread reading them.
type Captured = Arc<Mutex<String>>;

/// A running child with captured stdout and stderr.
pub struct Process {
    /// Names the process in failure messages.
    name: String,
    child: Child,
    stdout: Captured,
    stderr: Captured,
    /// The threads copying the pipes; joined once the child is gone, so the
    /// captured text is complete.
    readers: Vec<JoinHandle<()>>,
}

/// `recalld ARGS` with the test's own `RUST_LOG` removed, so the daemon's
/// defaults apply unless a test sets one.
pub fn recalld(args: &[&str]) -> Command {
    let mut command = Command::new(crate::recalld_bin());
    command
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// Runs `recalld ARGS` to the end: exit code, stdout, stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let output = recalld(args).output().expect("running recalld");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn capture(pipe: impl Read + Send + 'static, into: Captured) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line);
            into.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(&text);
            line.clear();
        }
    })
}

impl Process {
    /// Starts `command` with stdout and stderr captured.
    pub fn spawn(name: &str, mut command: Command) -> Process {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        let stdout = Captured::default();
        let stderr = Captured::default();
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(capture(pipe, Arc::clone(&stdout)));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(capture(pipe, Arc::clone(&stderr)));
        }
        Process {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// The child's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child is still running (it may have been ended by a signal).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The first stderr line for which `find` has an answer, waiting up to
    /// `timeout` for it. Fails early when the child exits first.
    pub async fn stderr_line<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        find: impl Fn(&str) -> Option<T>,
    ) -> T {
        let name = self.name.clone();
        let stderr = Arc::clone(&self.stderr);
        let child = &mut self.child;
        wait::until(&format!("{name} to print {what}"), timeout, || {
            let text = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let result = match (
                text.lines().find_map(&find),
                child.try_wait().ok().flatten(),
            ) {
                (Some(value), _) => Ok(value),
                (None, Some(status)) => {
                    panic!("{name} exited ({status}) before printing {what}; stderr:\n{text}")
                }
                (None, None) => Err(format!("stderr so far:\n{}", tail(&text, 20))),
            };
            std::future::ready(result)
        })
        .await
    }

    /// Waits up to `timeout` for the child to exit on its own; its output is
    /// complete afterwards.
    pub async fn exit(&mut self, timeout: Duration) -> ExitStatus {
        let name = self.name.clone();
        let stderr = Arc::clone(&self.stderr);
        let child = &mut self.child;
        let status = wait::until(&format!("{name} to exit"), timeout, || {
            let result = match child.try_wait() {
                Ok(Some(status)) => Ok(status),
                Ok(None) => {
                    let text = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    Err(format!(
                        "still running; stderr so far:\n{}",
                        tail(&text, 20)
                    ))
                }
                Err(e) => panic!("cannot wait for {name}: {e}"),
            };
            std::future::ready(result)
        })
        .await;
        self.join_readers();
        status
    }

    /// `kill -9` (`Child::kill` sends SIGKILL on Unix), then reaps the child;
    /// its output is complete afterwards.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_readers();
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- last stderr lines of {} ---\n{}",
                self.name,
                tail(&self.stderr(), 40)
            );
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
