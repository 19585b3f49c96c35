//! Files and folders that hold case data (the SQLite database, the `.eml`
//! files of the file mail transport): created for the service's user alone,
//! files 0600 and folders 0700 on Unix, whatever the umask, so that other
//! users of the machine cannot read the packages they name.

use std::fs::File;
use std::io;
use std::path::Path;

/// Creates `folder` and any missing parents, each 0700 (on Unix). Folders
/// that already exist are left as they are: an operator may have set them.
pub(crate) fn create_private_dir_all(folder: &Path) -> io::Result<()> {
    if folder.is_dir() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        // The parents that will be made, so each can be set 0700 after
        // (the umask can take bits from the mode asked for).
        let missing: Vec<&Path> = folder
            .ancestors()
            .take_while(|f| !f.as_os_str().is_empty() && !f.exists())
            .collect();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)?;
        for made in missing {
            std::fs::set_permissions(made, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(folder)
}

/// Creates `path`, which must not exist yet, as an empty file 0600 (on
/// Unix), open for writing.
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        // A umask cannot add bits, but one such as 0277 takes the write bit.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Creates `path` as an empty file 0600 (on Unix) if it does not exist; an
/// existing file is left as it is.
pub(crate) fn ensure_private_file(path: &Path) -> io::Result<()> {
    match create_private_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
