//! `-ipcbind` and `-ipcconnect` addresses, and the listening socket.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::sys;
use crate::Error;

/// Longest socket path: `sun_path` holds 108 bytes including the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// A parsed `-ipcbind`/`-ipcconnect` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpcAddress {
    /// Socket path.
    pub path: PathBuf,
}

impl IpcAddress {
    /// Parses `unix`, `unix:<path>` and, when `allow_auto`, `auto`. `unix` and `auto`
    /// mean `default_path`; a relative path is taken relative to `datadir`.
    pub fn parse(
        value: &str,
        datadir: &Path,
        default_path: &Path,
        allow_auto: bool,
    ) -> Result<IpcAddress, Error> {
        let path = match value {
            "unix" => default_path.to_path_buf(),
            "auto" if allow_auto => default_path.to_path_buf(),
            _ => match value.strip_prefix("unix:") {
                Some(path) if !path.is_empty() => datadir.join(path),
                _ => {
                    return Err(Error::Setup(format!(
                        "Unrecognized address '{value}' (expected unix or unix:<path>)"
                    )))
                }
            },
        };
        let len = path.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(Error::Setup(format!(
                "Unix address path {} exceeded maximum socket path length of {MAX_SOCKET_PATH} bytes ({len})",
                path.display()
            )));
        }
        Ok(IpcAddress { path })
    }

    fn socket_address(&self) -> Result<SocketAddrUnix, Error> {
        SocketAddrUnix::new(&self.path)
            .map_err(|e| Error::Setup(format!("bad socket path {}: {e}", self.path.display())))
    }

    /// Connects to a listening node and checks that it runs as our user.
    pub fn connect(&self) -> Result<OwnedFd, Error> {
        let socket = unix_socket()?;
        rustix::net::connect(&socket, &self.socket_address()?).map_err(|e| {
            Error::Setup(format!(
                "connection to {} failed: {}",
                self.path.display(),
                io::Error::from(e)
            ))
        })?;
        check_peer(&socket)?;
        Ok(socket)
    }
}

fn unix_socket() -> Result<OwnedFd, Error> {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::Setup(format!("socket: {e}")))
}

fn check_peer(socket: &OwnedFd) -> Result<(), Error> {
    let peer = sys::peer_uid(socket).map_err(|e| Error::Setup(format!("SO_PEERCRED: {e}")))?;
    let ours = sys::uid();
    if peer != ours {
        return Err(Error::Setup(format!(
            "refusing IPC peer running as uid {peer}; we run as uid {ours}"
        )));
    }
    Ok(())
}

/// A listening `-ipcbind` socket. The socket file is removed on drop.
#[derive(Debug)]
pub struct Listener {
    socket: OwnedFd,
    path: PathBuf,
}

impl Listener {
    /// Binds `address`, mode 0600. A stale socket file (nobody listening) is replaced;
    /// a live one or any other kind of file is an error.
    pub fn bind(address: &IpcAddress) -> Result<Listener, Error> {
        let path = &address.path;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(Error::Setup(format!(
                    "{} exists and is not a socket",
                    path.display()
                )));
            }
            if address.connect().is_ok() {
                return Err(Error::Setup(format!(
                    "{} is in use by a running process",
                    path.display()
                )));
            }
            std::fs::remove_file(path).map_err(|e| {
                Error::Setup(format!(
                    "cannot remove stale socket {}: {e}",
                    path.display()
                ))
            })?;
        }
        let socket = unix_socket()?;
        rustix::net::bind(&socket, &address.socket_address()?).map_err(|e| {
            Error::Setup(format!(
                "cannot bind {}: {}",
                path.display(),
                io::Error::from(e)
            ))
        })?;
        // Accepted peers are also checked with SO_PEERCRED, which closes the short
        // window before this chmod.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::Setup(format!("chmod {}: {e}", path.display())))?;
        rustix::net::listen(&socket, 16).map_err(|e| Error::Setup(format!("listen: {e}")))?;
        Ok(Listener {
            socket,
            path: path.clone(),
        })
    }

    /// Waits for the next peer running as our user. Peers of other users are refused
    /// with an error; the listener stays usable.
    pub fn accept(&self) -> Result<OwnedFd, Error> {
        let socket = rustix::net::accept_with(&self.socket, SocketFlags::CLOEXEC)
            .map_err(|e| Error::Setup(format!("accept: {e}")))?;
        check_peer(&socket)?;
        Ok(socket)
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listening descriptor, to poll it together with other events.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.socket)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("shm-ipc-addr-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn parses_addresses() {
        let datadir = Path::new("/data");
        let default = Path::new("/data/regtest/node.sock");
        let parse = |v, auto| IpcAddress::parse(v, datadir, default, auto);
        assert_eq!(parse("unix", false).unwrap().path, default);
        assert_eq!(parse("auto", true).unwrap().path, default);
        assert_eq!(
            parse("unix:/tmp/x.sock", false).unwrap().path,
            Path::new("/tmp/x.sock")
        );
        assert_eq!(
            parse("unix:rel.sock", false).unwrap().path,
            Path::new("/data/rel.sock")
        );
        for bad in ["tcp:1", "unix:", "auto", "", "unixx"] {
            let err = parse(bad, false).unwrap_err().to_string();
            assert!(err.contains("Unrecognized address"), "{bad}: {err}");
        }
        let long = format!("unix:/{}", "a".repeat(120));
        assert!(parse(&long, false)
            .unwrap_err()
            .to_string()
            .contains("maximum socket path length"));
    }

    #[test]
    fn binds_0600_replaces_stale_and_refuses_live() {
        let dir = temp_dir("bind");
        let path = dir.join("node.sock");
        let address = IpcAddress { path: path.clone() };
        {
            let listener = Listener::bind(&address).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            assert!(Listener::bind(&address)
                .unwrap_err()
                .to_string()
                .contains("in use"));
            // Leave a stale file behind, as a crashed node would.
            std::mem::forget(listener);
        }
        // The forgotten listener's fd is still open but it never accepts; a connect
        // succeeds on a listening socket, so close it to make the file stale.
        let stale = Listener::bind(&IpcAddress {
            path: dir.join("other.sock"),
        })
        .unwrap();
        drop(stale);
        let file = dir.join("stale.sock");
        {
            let socket = unix_socket().unwrap();
            rustix::net::bind(&socket, &SocketAddrUnix::new(&file).unwrap()).unwrap();
        }
        assert!(file.exists());
        let replaced = Listener::bind(&IpcAddress { path: file.clone() }).unwrap();
        let client = IpcAddress { path: file.clone() }.connect().unwrap();
        let accepted = replaced.accept().unwrap();
        drop((client, accepted));
        std::fs::write(dir.join("plain"), b"x").unwrap();
        assert!(Listener::bind(&IpcAddress {
            path: dir.join("plain")
        })
        .unwrap_err()
        .to_string()
        .contains("not a socket"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn connect_refused_is_clear() {
        let dir = temp_dir("refused");
        let err = IpcAddress {
            path: dir.join("none.sock"),
        }
        .connect()
        .unwrap_err();
        assert!(err.to_string().contains("connection to"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
