//! The IDX file format of MNIST: headers, expected sizes and the problems a file can have.
//!
//! An IDX images file is a 16-byte big-endian header (magic 2051, item count, rows,
//! columns) followed by `count * rows * columns` pixel bytes; an IDX labels file is an
//! 8-byte header (magic 2049, item count) followed by `count` label bytes. This module
//! only knows the format; [`crate::data::mnist`] finds, decompresses and loads the files.

use std::fmt;

/// Magic number of an IDX file of unsigned-byte images with three dimensions.
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte labels with one dimension.
pub const LABELS_MAGIC: u32 = 2049;
/// The first two bytes of every gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Number of classes: labels must lie in `0..NUM_CLASSES`.
pub const NUM_CLASSES: u8 = 10;

/// Which of the two IDX layouts a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxKind {
    /// 28x28 unsigned-byte images (magic 2051).
    Images,
    /// Unsigned-byte class labels (magic 2049).
    Labels,
}

impl IdxKind {
    /// The magic number a file of this kind starts with.
    pub fn magic(self) -> u32 {
        match self {
            IdxKind::Images => IMAGES_MAGIC,
            IdxKind::Labels => LABELS_MAGIC,
        }
    }

    /// Length of the header in bytes (16 for images, 8 for labels).
    pub fn header_len(self) -> usize {
        match self {
            IdxKind::Images => 16,
            IdxKind::Labels => 8,
        }
    }

    /// Bytes per item after the header (784 for images, 1 for labels).
    pub fn item_len(self) -> usize {
        match self {
            IdxKind::Images => super::IMAGE_PIXELS,
            IdxKind::Labels => 1,
        }
    }
}

/// A parsed and checked IDX header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdxHeader {
    /// Images or labels.
    pub kind: IdxKind,
    /// Number of items (images or labels) the header announces.
    pub count: usize,
}

impl IdxHeader {
    /// The exact length in bytes a file with this header must have.
    pub fn file_len(&self) -> u64 {
        self.kind.header_len() as u64 + self.count as u64 * self.kind.item_len() as u64
    }
}

/// What is wrong with one IDX file (the file's name is added by [`super::DataError`]).
///
/// `Display` says what went wrong; [`IdxProblem::hint`] says what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdxProblem {
    /// The file starts with the gzip magic bytes 0x1f 0x8b but its name has no `.gz` suffix.
    GzipUnderRawName,
    /// The file's name ends in `.gz` but it does not start with the gzip magic bytes.
    NotGzip,
    /// The gzip stream could not be decompressed (cut short, bad checksum, bad data).
    CorruptGzip {
        /// The decoder's own description of the problem.
        detail: String,
    },
    /// The file is shorter than the IDX header.
    HeaderTruncated {
        /// Header length the format needs.
        expected: usize,
        /// Bytes the file actually holds.
        found: u64,
        /// Whether the sizes are those of the decompressed content of a `.gz` file.
        decompressed: bool,
    },
    /// The magic number is not the one of this kind of file.
    WrongMagic {
        /// The magic number the file should have.
        expected: u32,
        /// The magic number found.
        found: u32,
    },
    /// The images are not 28x28.
    WrongDimensions {
        /// Rows per image in the header.
        rows: u32,
        /// Columns per image in the header.
        cols: u32,
    },
    /// The file is shorter than its header announces.
    Truncated {
        /// Length the header implies.
        expected: u64,
        /// Actual length.
        found: u64,
        /// Whether the sizes are those of the decompressed content of a `.gz` file.
        decompressed: bool,
    },
    /// The file is longer than its header announces.
    TooLong {
        /// Length the header implies.
        expected: u64,
        /// Actual length (decompressed: at least this; decompression stops soon after
        /// `expected`).
        found: u64,
        /// Whether the sizes are those of the decompressed content of a `.gz` file.
        decompressed: bool,
    },
    /// The header announces more items than any standard split holds (checked before a
    /// `.gz` file is decompressed to disk, so a bad header cannot fill the disk).
    TooManyItems {
        /// Items the header announces.
        found: usize,
        /// The most any split may hold.
        max: usize,
    },
    /// A `.gz` file larger than any compressed MNIST file could be (refused before it is
    /// decompressed).
    CompressedTooLarge {
        /// Its size in bytes.
        found: u64,
        /// The most a compressed data file may hold.
        max: u64,
    },
    /// A label is not a digit 0-9.
    LabelOutOfRange {
        /// Index of the first bad label.
        index: usize,
        /// Its value.
        label: u8,
    },
}

impl IdxProblem {
    /// What the user can do about this problem, as a short imperative phrase.
    pub fn hint(&self) -> &'static str {
        match self {
            IdxProblem::GzipUnderRawName => {
                "add the .gz suffix to its name or decompress it with gunzip"
            }
            IdxProblem::NotGzip => "if it is an uncompressed IDX file, remove the .gz suffix",
            IdxProblem::WrongMagic { .. }
            | IdxProblem::WrongDimensions { .. }
            | IdxProblem::TooManyItems { .. }
            | IdxProblem::CompressedTooLarge { .. } => {
                "check that the file is the MNIST file of that name"
            }
            IdxProblem::CorruptGzip { .. }
            | IdxProblem::HeaderTruncated { .. }
            | IdxProblem::Truncated { .. }
            | IdxProblem::TooLong { .. }
            | IdxProblem::LabelOutOfRange { .. } => "download the file again",
        }
    }
}

fn after(decompressed: bool) -> &'static str {
    if decompressed {
        " after decompression"
    } else {
        ""
    }
}

fn magic_name(magic: u32) -> &'static str {
    match magic {
        IMAGES_MAGIC => " (an IDX images file)",
        LABELS_MAGIC => " (an IDX labels file)",
        _ => "",
    }
}

impl fmt::Display for IdxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdxProblem::GzipUnderRawName => {
                write!(f, "is gzip-compressed but its name does not end in .gz")
            }
            IdxProblem::NotGzip => write!(
                f,
                "is not a gzip file (its first bytes are not 1f 8b) although its name ends in .gz"
            ),
            IdxProblem::CorruptGzip { detail } => {
                write!(f, "corrupt or incomplete gzip data ({detail})")
            }
            IdxProblem::HeaderTruncated {
                expected,
                found,
                decompressed,
            } => write!(
                f,
                "truncated: the IDX header needs {expected} bytes{}, found {found}",
                after(*decompressed)
            ),
            IdxProblem::WrongMagic { expected, found } => write!(
                f,
                "wrong magic number: expected {expected}{}, found {found}{}",
                magic_name(*expected),
                magic_name(*found)
            ),
            IdxProblem::WrongDimensions { rows, cols } => {
                write!(f, "images are {rows}x{cols}, expected 28x28")
            }
            IdxProblem::Truncated {
                expected,
                found,
                decompressed,
            } => write!(
                f,
                "truncated: expected {expected} bytes{}, found {found}",
                after(*decompressed)
            ),
            IdxProblem::TooLong {
                expected,
                found,
                decompressed,
            } => write!(
                f,
                "too long: expected {expected} bytes{}, found {}{found}",
                after(*decompressed),
                // Decompression stops soon after the expected length: a lower bound.
                if *decompressed { "at least " } else { "" }
            ),
            IdxProblem::TooManyItems { found, max } => write!(
                f,
                "the header announces {found} items, more than any MNIST split holds ({max})"
            ),
            IdxProblem::CompressedTooLarge { found, max } => write!(
                f,
                "the compressed file is {found} bytes, more than any MNIST file needs ({max})"
            ),
            IdxProblem::LabelOutOfRange { index, label } => write!(
                f,
                "label {label} at index {index} is out of range (labels must be 0-9)"
            ),
        }
    }
}

/// True when `bytes` starts like a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// Parse and check the header at the start of `bytes` (which may hold more than the header).
///
/// Checks, in order: gzip bytes under a raw name, magic number, header length and (for
/// images) the 28x28 dimensions. `decompressed` only changes the wording of a short header.
pub fn parse_header(
    kind: IdxKind,
    bytes: &[u8],
    decompressed: bool,
) -> Result<IdxHeader, IdxProblem> {
    if !decompressed && is_gzip(bytes) {
        return Err(IdxProblem::GzipUnderRawName);
    }
    // The magic number first, even in a short file: "wrong magic" says more than "short"
    // when a labels file stands in for an images file.
    if let Some(magic) = be_u32(bytes, 0) {
        if magic != kind.magic() {
            return Err(IdxProblem::WrongMagic {
                expected: kind.magic(),
                found: magic,
            });
        }
    }
    let header_len = kind.header_len();
    let field = |at: usize| {
        be_u32(bytes, at)
            .filter(|_| bytes.len() >= header_len)
            .ok_or(IdxProblem::HeaderTruncated {
                expected: header_len,
                found: bytes.len() as u64,
                decompressed,
            })
    };
    field(0)?;
    let count = field(4)? as usize;
    if kind == IdxKind::Images {
        let (rows, cols) = (field(8)?, field(12)?);
        if rows as usize != super::IMAGE_SIDE || cols as usize != super::IMAGE_SIDE {
            return Err(IdxProblem::WrongDimensions { rows, cols });
        }
    }
    Ok(IdxHeader { kind, count })
}

/// Check that a file of `found` bytes has exactly the length `header` implies.
pub fn check_len(header: &IdxHeader, found: u64, decompressed: bool) -> Result<(), IdxProblem> {
    let expected = header.file_len();
    match found.cmp(&expected) {
        std::cmp::Ordering::Less => Err(IdxProblem::Truncated {
            expected,
            found,
            decompressed,
        }),
        std::cmp::Ordering::Greater => Err(IdxProblem::TooLong {
            expected,
            found,
            decompressed,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Check that every label is a digit 0-9; `labels` is the part after the header.
pub fn check_labels(labels: &[u8]) -> Result<(), IdxProblem> {
    match labels.iter().position(|&label| label >= NUM_CLASSES) {
        Some(index) => Err(IdxProblem::LabelOutOfRange {
            index,
            label: labels.get(index).copied().unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// Check a whole in-memory IDX file: header, exact length and (for labels) the label range.
pub fn check_file(kind: IdxKind, bytes: &[u8]) -> Result<IdxHeader, IdxProblem> {
    let header = parse_header(kind, bytes, false)?;
    check_len(&header, bytes.len() as u64, false)?;
    if kind == IdxKind::Labels {
        check_labels(bytes.get(kind.header_len()..).unwrap_or_default())?;
    }
    Ok(header)
}

/// Encode images as an IDX images file (header + pixels); `pixels.len()` must be a
/// multiple of 784. Used to write test fixtures and exported subsets.
pub fn encode_images(pixels: &[u8]) -> Vec<u8> {
    let count = (pixels.len() / super::IMAGE_PIXELS) as u32;
    let side = super::IMAGE_SIDE as u32;
    let mut out = Vec::with_capacity(16 + pixels.len());
    for word in [IMAGES_MAGIC, count, side, side] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encode labels as an IDX labels file (header + labels).
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_labels_file_passes() {
        let file = encode_labels(&[0, 9, 3]);
        let header = IdxHeader {
            kind: IdxKind::Labels,
            count: 3,
        };
        assert_eq!(check_file(IdxKind::Labels, &file), Ok(header));
        assert_eq!(header.file_len(), 11);
    }

    #[test]
    fn a_well_formed_images_file_passes() {
        let file = encode_images(&[7u8; 2 * 784]);
        let header = IdxHeader {
            kind: IdxKind::Images,
            count: 2,
        };
        assert_eq!(check_file(IdxKind::Images, &file), Ok(header));
        assert_eq!(header.file_len(), 16 + 2 * 784);
    }

    #[test]
    fn a_labels_file_given_as_images_has_the_wrong_magic() {
        let file = encode_labels(&[1; 20]);
        assert_eq!(
            check_file(IdxKind::Images, &file),
            Err(IdxProblem::WrongMagic {
                expected: 2051,
                found: 2049
            })
        );
        assert_eq!(
            IdxProblem::WrongMagic {
                expected: 2051,
                found: 2049
            }
            .to_string(),
            "wrong magic number: expected 2051 (an IDX images file), found 2049 (an IDX labels file)"
        );
    }

    #[test]
    fn images_that_are_not_28_by_28_are_rejected() {
        let mut file = encode_images(&[0u8; 784]);
        file[8..12].copy_from_slice(&32u32.to_be_bytes());
        assert_eq!(
            check_file(IdxKind::Images, &file),
            Err(IdxProblem::WrongDimensions { rows: 32, cols: 28 })
        );
    }

    #[test]
    fn a_short_or_long_file_reports_both_lengths() {
        let file = encode_labels(&[1, 2, 3]);
        assert_eq!(
            check_file(IdxKind::Labels, &file[..9]),
            Err(IdxProblem::Truncated {
                expected: 11,
                found: 9,
                decompressed: false
            })
        );
        let mut long = file.clone();
        long.push(0);
        assert_eq!(
            check_file(IdxKind::Labels, &long),
            Err(IdxProblem::TooLong {
                expected: 11,
                found: 12,
                decompressed: false
            })
        );
        assert_eq!(
            check_file(IdxKind::Labels, &file[..3]),
            Err(IdxProblem::HeaderTruncated {
                expected: 8,
                found: 3,
                decompressed: false
            })
        );
    }

    #[test]
    fn gzip_bytes_under_a_raw_name_are_recognised() {
        let bytes = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        assert_eq!(
            check_file(IdxKind::Labels, &bytes),
            Err(IdxProblem::GzipUnderRawName)
        );
    }

    #[test]
    fn the_first_bad_label_is_reported() {
        let file = encode_labels(&[0, 5, 10, 200]);
        assert_eq!(
            check_file(IdxKind::Labels, &file),
            Err(IdxProblem::LabelOutOfRange {
                index: 2,
                label: 10
            })
        );
    }
}
