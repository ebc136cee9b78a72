//! Reading a small secret file (the API key) safely: regular files only,
//! opened without blocking (a FIFO cannot hang the daemon), and read up to a
//! size cap (a device or a huge file cannot fill memory).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// A file's contents and permission bits.
#[derive(Debug)]
pub struct Contents {
    /// The contents (UTF-8).
    pub text: String,
    /// The permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

/// Why a secret file cannot be used; `Display` completes "FILE ...".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such file.
    #[error("does not exist")]
    Missing,
    /// Not readable by this user.
    #[error("is not readable (permission denied)")]
    PermissionDenied,
    /// Not a regular file; names what it is.
    #[error("is a {0}, not a regular file; put the key in a regular file")]
    NotRegular(&'static str),
    /// Larger than the cap.
    #[error("is larger than {0} bytes, which no key is; write the key alone into it")]
    TooLarge(u64),
    /// Not UTF-8 text.
    #[error("is not text (invalid UTF-8)")]
    NotText,
    /// Any other I/O error.
    #[error("cannot be read ({0})")]
    Io(io::Error),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::NotFound => Error::Missing,
            io::ErrorKind::PermissionDenied => Error::PermissionDenied,
            _ => Error::Io(e),
        }
    }
}

fn kind_of(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("directory")
    } else if t.is_fifo() {
        Some("FIFO")
    } else if t.is_char_device() {
        Some("character device")
    } else if t.is_block_device() {
        Some("block device")
    } else if t.is_socket() {
        Some("socket")
    } else {
        Some("special file")
    }
}

/// Read `path` (following symlinks) if it is a regular file of at most `max`
/// bytes. The type is checked before opening and again on the open file;
/// the open never blocks.
pub fn read(path: &Path, max: u64) -> Result<Contents, Error> {
    if let Some(kind) = kind_of(&std::fs::metadata(path)?) {
        return Err(Error::NotRegular(kind));
    }
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    // The file may have been swapped between the checks: check what we hold.
    let meta = file.metadata()?;
    if let Some(kind) = kind_of(&meta) {
        return Err(Error::NotRegular(kind));
    }
    if meta.len() > max {
        return Err(Error::TooLarge(max));
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Error::from)?;
    if bytes.len() as u64 > max {
        return Err(Error::TooLarge(max));
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::NotText)?;
    Ok(Contents {
        text,
        mode: meta.permissions().mode() & 0o7777,
    })
}

/// Most bytes a config file (`--config`) may have.
pub const MAX_CONFIG_FILE: u64 = 1 << 20;
/// Most bytes a web config file may have.
pub const MAX_WEB_CONFIG_FILE: u64 = 1 << 20;
/// Most bytes a TLS certificate chain or private key file may have.
pub const MAX_PEM_FILE: u64 = 1 << 20;

/// Read a file that is not a secret (a config file, a certificate) as
/// [`read`] does: a regular file only (a FIFO, device or directory is
/// refused before it is opened, so nothing blocks), opened non-blocking,
/// at most `max` bytes. The error completes "FILE ..." for one line.
pub fn read_text(path: &Path, max: u64) -> Result<String, TextError> {
    read(path, max).map(|c| c.text).map_err(|e| match e {
        Error::NotRegular(kind) => TextError::NotRegular(kind),
        Error::TooLarge(max) => TextError::TooLarge(max),
        other => TextError::Read(other),
    })
}

/// Why [`read_text`] cannot read a file; `Display` completes "FILE ...",
/// without the key hints of [`Error`].
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// Not a regular file; names what it is.
    #[error("is a {0}, not a regular file")]
    NotRegular(&'static str),
    /// Larger than the cap.
    #[error("is larger than {0} bytes")]
    TooLarge(u64),
    /// Missing, unreadable, not UTF-8, or another I/O error.
    #[error(transparent)]
    Read(Error),
}

impl TextError {
    /// True when the file does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, TextError::Read(Error::Missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = dir.path().join("key");
        std::fs::write(&ok, "NNSXS.FAKE\n").expect("write");
        assert_eq!(read(&ok, 4096).expect("regular").text, "NNSXS.FAKE\n");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 5000]).expect("write");
        assert!(matches!(read(&big, 4096), Err(Error::TooLarge(4096))));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("no NUL");
        // SAFETY: a valid NUL-terminated path.
        #[allow(unsafe_code)]
        let made = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(made, 0);
        let msg = read(&fifo, 4096).expect_err("fifo").to_string();
        assert!(msg.contains("is a FIFO, not a regular file"), "{msg}");
        let msg = read(Path::new("/dev/zero"), 4096)
            .expect_err("device")
            .to_string();
        assert!(msg.contains("character device"), "{msg}");
        let msg = read(dir.path(), 4096).expect_err("dir").to_string();
        assert!(msg.contains("is a directory"), "{msg}");
        assert!(matches!(
            read(&dir.path().join("none"), 4096),
            Err(Error::Missing)
        ));
    }
}
