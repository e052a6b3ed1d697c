//! `errorFile`: what the server refused, one JSON object a line, as
//! rsyslog's omclickhouse writes it:
//! `{"request":{"url":"…","postdata":"…"},"reply":"…"}`. Strings are
//! escaped as the rows are ([`crate::row::escape_json`]): the bytes sent
//! are kept exactly, even those that are not UTF-8.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::row::escape_json;

pub struct ErrorFile {
    path: Option<PathBuf>,
    file: Option<File>,
}

impl ErrorFile {
    pub fn new(path: Option<PathBuf>) -> Self {
        ErrorFile { path, file: None }
    }

    /// Appends one record; opened on first use (mode 0640, as rsyslog's).
    pub fn write(&mut self, url: &str, postdata: &[u8], reply: &str) {
        let Some(path) = &self.path else { return };
        let mut record = Vec::with_capacity(postdata.len() + reply.len() + 64);
        record.extend_from_slice(b"{\"request\":{\"url\":\"");
        escape_json(url.as_bytes(), &mut record);
        record.extend_from_slice(b"\",\"postdata\":\"");
        escape_json(postdata, &mut record);
        record.extend_from_slice(b"\"},\"reply\":\"");
        escape_json(reply.as_bytes(), &mut record);
        record.extend_from_slice(b"\"}\n");
        if self.file.is_none() {
            match OpenOptions::new().append(true).create(true).mode(0o640).open(path) {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "omclickhouse: cannot open errorFile; the refused batch is only logged");
                    return;
                }
            }
        }
        if let Some(f) = &mut self.file {
            if let Err(e) = f.write_all(&record) {
                tracing::error!(file = %path.display(), error = %e, "omclickhouse: cannot write errorFile");
                self.file = None;
            }
        }
    }
}
