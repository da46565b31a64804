//! A minimal keep-alive HTTP/1.1 client for the load generator: it writes
//! requests that were built (and signed) before the clock started and reads
//! just enough of each answer to know its status and where it ends. It costs
//! far less CPU than a general client, which matters because the generator
//! shares the machine's cores with the daemon it measures.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Largest response head accepted before the answer is called malformed.
const HEAD_CAP: usize = 64 * 1024;

/// One connection, used for one request at a time.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet consumed (the start of the next answer, if any).
    buffer: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends one complete request and reads its answer; returns the status.
    pub async fn exchange(&mut self, request: &[u8]) -> io::Result<u16> {
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at + 4;
            }
            if self.buffer.len() > HEAD_CAP {
                return Err(malformed("response head too large"));
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end])
            .map_err(|_| malformed("head is not UTF-8"))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| malformed("no status code"))?;
        let mut length = None;
        let mut chunked = false;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| malformed("bad content-length"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
        self.buffer.drain(..head_end);
        match (length, chunked) {
            (_, true) => self.skip_chunked().await?,
            (Some(n), false) => self.skip(n).await?,
            (None, false) => {
                return Err(malformed("answer without length (connection would close)"));
            }
        }
        Ok(status)
    }

    /// Reads more bytes into the buffer; a closed connection is an error.
    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Consumes `n` body bytes.
    async fn skip(&mut self, n: usize) -> io::Result<()> {
        while self.buffer.len() < n {
            self.fill().await?;
        }
        self.buffer.drain(..n);
        Ok(())
    }

    /// Consumes a chunked body up to and including its last, empty chunk.
    async fn skip_chunked(&mut self) -> io::Result<()> {
        loop {
            let line_end = loop {
                if let Some(at) = find(&self.buffer, b"\r\n") {
                    break at;
                }
                self.fill().await?;
            };
            let size_text = std::str::from_utf8(&self.buffer[..line_end])
                .map_err(|_| malformed("bad chunk size"))?;
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| malformed("bad chunk size"))?;
            self.buffer.drain(..line_end + 2);
            // The chunk's data and its CRLF (for the last chunk: the empty trailer line).
            self.skip(size + 2).await?;
            if size == 0 {
                return Ok(());
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed HTTP answer: {what}"),
    )
}
