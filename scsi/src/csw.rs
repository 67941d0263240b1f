//! The Command Status Wrapper (BOT 1.0, section 5.2): the 13-byte packet the
//! device returns on the bulk-in pipe after each command, and the host's
//! validity and meaningfulness checks on it (BOT 1.0, section 6.3).
//!
//! Layout (all multi-byte fields little-endian):
//!
//! | bytes | field            |
//! |-------|------------------|
//! | 0..4  | dCSWSignature    |
//! | 4..8  | dCSWTag          |
//! | 8..12 | dCSWDataResidue  |
//! | 12    | bCSWStatus       |

/// `dCSWSignature` required by the specification: "USBS" read as a
/// little-endian `u32`.
pub const CSW_SIGNATURE: u32 = 0x5342_5355;
/// Signature sent by some Olympus cameras ("USBU"); usb-storage accepts it
/// by learning the signature from the first CSW a device sends.
#[cfg(not(MODULE))]
pub const CSW_SIGNATURE_OLYMPUS: u32 = 0x5542_5355;
/// Length of a CSW in bytes.
pub const CSW_LEN: usize = 13;
/// `bCSWStatus`: command passed.
pub const CSW_STATUS_PASSED: u8 = 0;
/// `bCSWStatus`: command failed; the host should issue REQUEST SENSE.
pub const CSW_STATUS_FAILED: u8 = 1;
/// `bCSWStatus`: phase error; the host must perform reset recovery.
pub const CSW_STATUS_PHASE_ERROR: u8 = 2;

/// Why a CSW is not valid or not meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CswError {
    /// The device sent this many bytes instead of [`CSW_LEN`].
    BadLength(usize),
    /// The signature differs from the one expected for this device.
    BadSignature(u32),
    /// The tag does not echo the tag of the CBW.
    TagMismatch {
        /// Tag sent in the CBW.
        expected: u32,
        /// Tag found in the CSW.
        got: u32,
    },
    /// `bCSWStatus` holds a reserved value (above 2).
    BadStatus(u8),
    /// The device claims more data was left over than the host asked for.
    ResidueTooLarge {
        /// `dCSWDataResidue` from the CSW.
        residue: u32,
        /// `dCBWDataTransferLength` of the command.
        transfer_len: u32,
    },
}

/// Outcome of a command according to a valid, meaningful CSW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CswStatus {
    /// The command passed; `residue` bytes of the data stage were not used.
    Passed {
        /// Bytes of the expected transfer that were not transferred.
        residue: u32,
    },
    /// The command failed; sense data explains why.
    Failed {
        /// Bytes of the expected transfer that were not transferred.
        residue: u32,
    },
    /// Phase error: the host must perform reset recovery.
    PhaseError,
}

/// A CSW decoded from the wire, not yet checked against its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Csw {
    /// `dCSWSignature`.
    pub signature: u32,
    /// `dCSWTag`.
    pub tag: u32,
    /// `dCSWDataResidue`.
    pub residue: u32,
    /// `bCSWStatus`.
    pub status: u8,
}

impl Csw {
    /// Decodes a CSW. The buffer must be exactly [`CSW_LEN`] bytes long; no
    /// field is judged here, see [`Csw::check`].
    pub fn parse(buf: &[u8]) -> Result<Csw, CswError> {
        let raw: &[u8; CSW_LEN] = buf.try_into().map_err(|_| CswError::BadLength(buf.len()))?;
        let [s0, s1, s2, s3, t0, t1, t2, t3, r0, r1, r2, r3, status] = *raw;
        Ok(Csw {
            signature: u32::from_le_bytes([s0, s1, s2, s3]),
            tag: u32::from_le_bytes([t0, t1, t2, t3]),
            residue: u32::from_le_bytes([r0, r1, r2, r3]),
            status,
        })
    }

    /// Encodes the CSW into its wire form (used by device emulations).
    #[cfg(not(MODULE))]
    pub fn encode(&self) -> [u8; CSW_LEN] {
        let mut out = [0u8; CSW_LEN];
        out[0..4].copy_from_slice(&self.signature.to_le_bytes());
        out[4..8].copy_from_slice(&self.tag.to_le_bytes());
        out[8..12].copy_from_slice(&self.residue.to_le_bytes());
        out[12] = self.status;
        out
    }

    /// Checks the CSW against the command it answers.
    ///
    /// `expected_signature` is [`CSW_SIGNATURE`] unless the driver learned
    /// another one from the device's first CSW. The CSW must be valid (BOT
    /// 6.3.1: signature and tag match) and meaningful (BOT 6.3.2: status 0 or
    /// 1 with a residue no larger than `transfer_len`, or status 2). Any error
    /// means the host must not trust the data stage and should perform reset
    /// recovery. A phase error is meaningful whatever its residue.
    pub fn check(
        &self,
        expected_tag: u32,
        transfer_len: u32,
        expected_signature: u32,
    ) -> Result<CswStatus, CswError> {
        if self.signature != expected_signature {
            return Err(CswError::BadSignature(self.signature));
        }
        if self.tag != expected_tag {
            return Err(CswError::TagMismatch {
                expected: expected_tag,
                got: self.tag,
            });
        }
        let residue = self.residue;
        let meaningful_residue = || {
            if residue > transfer_len {
                Err(CswError::ResidueTooLarge {
                    residue,
                    transfer_len,
                })
            } else {
                Ok(residue)
            }
        };
        match self.status {
            CSW_STATUS_PASSED => meaningful_residue().map(|residue| CswStatus::Passed { residue }),
            CSW_STATUS_FAILED => meaningful_residue().map(|residue| CswStatus::Failed { residue }),
            CSW_STATUS_PHASE_ERROR => Ok(CswStatus::PhaseError),
            other => Err(CswError::BadStatus(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: [u8; 13] = [
        0x55, 0x53, 0x42, 0x53, // "USBS"
        0x78, 0x56, 0x34, 0x12, // tag
        0x00, 0x02, 0x00, 0x00, // residue 512
        0x00, // passed
    ];

    #[test]
    fn parses_fields_little_endian() {
        let csw = Csw::parse(&GOOD).unwrap();
        assert_eq!(
            csw,
            Csw {
                signature: CSW_SIGNATURE,
                tag: 0x1234_5678,
                residue: 512,
                status: 0,
            }
        );
        assert_eq!(csw.encode(), GOOD);
        assert_eq!(&GOOD[0..4], b"USBS");
        assert_eq!(CSW_SIGNATURE_OLYMPUS.to_le_bytes(), *b"USBU");
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert_eq!(Csw::parse(&GOOD[..12]), Err(CswError::BadLength(12)));
        assert_eq!(Csw::parse(&[]), Err(CswError::BadLength(0)));
        let mut long = [0u8; 14];
        long[..13].copy_from_slice(&GOOD);
        assert_eq!(Csw::parse(&long), Err(CswError::BadLength(14)));
    }

    #[test]
    fn check_accepts_good_statuses() {
        let csw = Csw::parse(&GOOD).unwrap();
        assert_eq!(
            csw.check(0x1234_5678, 4096, CSW_SIGNATURE),
            Ok(CswStatus::Passed { residue: 512 })
        );
        let failed = Csw { status: 1, ..csw };
        assert_eq!(
            failed.check(0x1234_5678, 512, CSW_SIGNATURE),
            Ok(CswStatus::Failed { residue: 512 })
        );
        let phase = Csw {
            status: 2,
            residue: u32::MAX,
            ..csw
        };
        assert_eq!(
            phase.check(0x1234_5678, 0, CSW_SIGNATURE),
            Ok(CswStatus::PhaseError)
        );
    }

    #[test]
    fn check_rejects_invalid_and_meaningless() {
        let csw = Csw::parse(&GOOD).unwrap();
        assert_eq!(
            csw.check(1, 4096, CSW_SIGNATURE),
            Err(CswError::TagMismatch {
                expected: 1,
                got: 0x1234_5678
            })
        );
        assert_eq!(
            csw.check(0x1234_5678, 511, CSW_SIGNATURE),
            Err(CswError::ResidueTooLarge {
                residue: 512,
                transfer_len: 511
            })
        );
        assert_eq!(
            csw.check(0x1234_5678, 4096, CSW_SIGNATURE_OLYMPUS),
            Err(CswError::BadSignature(CSW_SIGNATURE))
        );
        let reserved = Csw { status: 3, ..csw };
        assert_eq!(
            reserved.check(0x1234_5678, 4096, CSW_SIGNATURE),
            Err(CswError::BadStatus(3))
        );
    }

    #[test]
    fn learned_signature_is_honoured() {
        let csw = Csw {
            signature: CSW_SIGNATURE_OLYMPUS,
            tag: 5,
            residue: 0,
            status: 0,
        };
        assert_eq!(
            csw.check(5, 0, CSW_SIGNATURE_OLYMPUS),
            Ok(CswStatus::Passed { residue: 0 })
        );
        assert!(csw.check(5, 0, CSW_SIGNATURE).is_err());
    }
}
