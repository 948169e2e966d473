//! Paths the user types instead of picking them in a file dialog: trimmed, with a leading `~`
//! expanded to the home folder, and the fields they are typed in (so a message can name one and
//! the studio can focus it).

use std::path::{Path, PathBuf};

/// A field where the user can type a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathField {
    /// "Checkpoint path" in the controls (Save, Open).
    Checkpoint,
    /// "PNG path" above the samples (Save PNG).
    Png,
    /// "Checkpoint to compare" in the Compare and export window.
    Compare,
    /// "CSV file" in the Compare and export window.
    Csv,
    /// "Run folder" in the Runs window (Open run folder).
    RunFolder,
}

impl PathField {
    /// The field's name as the user sees it.
    pub fn label(self) -> &'static str {
        match self {
            PathField::Checkpoint => "Checkpoint path",
            PathField::Png => "PNG path",
            PathField::Compare => "Checkpoint to compare",
            PathField::Csv => "CSV file",
            PathField::RunFolder => "Run folder",
        }
    }
}

/// The typed path, if any: trimmed, `~` and `~/...` expanded to the home folder (`$HOME`).
pub fn typed_path(text: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    expand_typed(text, home.as_deref())
}

/// [`typed_path`] with the home folder given (`None`: leave `~` as it is).
pub fn expand_typed(text: &str, home: Option<&Path>) -> Option<PathBuf> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let expanded = match (home, trimmed.strip_prefix('~')) {
        (Some(home), Some("")) => home.to_path_buf(),
        (Some(home), Some(rest)) if rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(trimmed),
    };
    Some(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tilde_becomes_the_home_folder_and_blank_text_is_no_path() {
        let home = Path::new("/home/ada");
        let expand = |text| expand_typed(text, Some(home));
        assert_eq!(
            expand("  ~/runs/a.ckpt "),
            Some(PathBuf::from("/home/ada/runs/a.ckpt"))
        );
        assert_eq!(expand("~"), Some(PathBuf::from("/home/ada")));
        // `~user` is not expanded (it names another user's home).
        assert_eq!(expand("~bob/x"), Some(PathBuf::from("~bob/x")));
        assert_eq!(expand("rel/x.png"), Some(PathBuf::from("rel/x.png")));
        assert_eq!(expand("   "), None);
        assert_eq!(expand_typed("~/x", None), Some(PathBuf::from("~/x")));
    }
}
