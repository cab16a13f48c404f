//! Spawning a child process with one end of a socketpair as its IPC descriptor.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use crate::conn::socketpair;

/// Descriptor number the child finds its socket at; passed as `-ipcfd=3`.
pub const CHILD_FD: i32 = 3;

/// Spawns `command` with `-ipcfd=3` appended, the child's end of a new socketpair at
/// fd 3 and every other descriptor above stderr closed. Returns the child and our end.
pub fn spawn_with_ipc_fd(command: &mut Command) -> io::Result<(Child, OwnedFd)> {
    let (ours, theirs) = socketpair()?;
    let theirs_raw = theirs.as_raw_fd();
    command.arg(format!("-ipcfd={CHILD_FD}"));
    // SAFETY: only async-signal-safe system calls run between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if theirs_raw == CHILD_FD {
                // dup2 onto itself would keep close-on-exec set: clear it instead.
                if libc::fcntl(CHILD_FD, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(theirs_raw, CHILD_FD) < 0 {
                return Err(io::Error::last_os_error());
            }
            // Nothing else of ours may leak into the child. Older kernels without
            // close_range still get close-on-exec, which covers our own descriptors.
            libc::syscall(libc::SYS_close_range, CHILD_FD as u32 + 1, u32::MAX, 0);
            Ok(())
        });
    }
    let child = command.spawn();
    drop(theirs);
    Ok((child?, ours))
}

/// Parses `-ipcfd=N` into an owned descriptor, checking it is a stream socket.
pub fn ipc_fd_from_arg(value: &str) -> Result<OwnedFd, crate::Error> {
    use std::os::fd::FromRawFd;
    let fd: i32 = value
        .parse()
        .ok()
        .filter(|fd| *fd > 2)
        .ok_or_else(|| crate::Error::Setup(format!("invalid -ipcfd value '{value}'")))?;
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(crate::Error::Setup(format!(
            "-ipcfd={fd} is not an open descriptor"
        )));
    }
    // SAFETY: the descriptor is open and was handed to us by the parent to own.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if !crate::sys::is_stream_socket(std::os::fd::AsFd::as_fd(&owned)) {
        return Err(crate::Error::Setup(format!(
            "-ipcfd={fd} is not a Unix stream socket"
        )));
    }
    // Keep it from leaking into our own children.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(owned)
}
