// SPDX-License-Identifier: GPL-2.0

//! One Bulk-Only Transport command (USB MSC BOT 1.0, section 5): the CBW on
//! bulk-out, the data stage through `usbcore_sg`, the CSW on bulk-in, each with its
//! own timeout, and what the spec asks within a command (clear halt after a data or
//! CSW stall, one more CSW read). What to do when a command ends without a valid
//! CSW (Reset Recovery, port reset, giving up) is decided in [`crate::recovery`].
//!
//! Lenient where devices are known to be sloppy and nothing is at stake: a CSW
//! signature other than `USBS` is learned from the first CSW that carries it, a
//! zero-length packet before the CSW is skipped, a CSW sent in place of the data
//! is recognised, and devices that report a residue on INQUIRY or READ CAPACITY
//! although all bytes arrived get their residues ignored (usb-storage's heuristic).
//! Strict where data is at stake: a wrong tag, a status above 2 or a residue larger
//! than the transfer is a transport error, never a success, and a residue never
//! counts fewer bytes missing than really went missing.
//!
//! [`Bot`] is used by one thread at a time (the device's I/O lock), which is what
//! BOT allows: one command in flight per device.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    prelude::*,
    str::CString,
    sync::Arc,
    time::{delay::fsleep, Delta},
};

use crate::{
    chain::{Chain, Stages},
    counters::{Counter, Counters},
    knobs::{Knob, Knobs},
    quirks::Quirks,
    scsi::{
        cbw::{Cbw, Direction, CBW_LEN},
        cdb::{self, Cdb},
        csw::{Csw, CswError, CswStatus, CSW_LEN, CSW_SIGNATURE},
    },
    urb::now_ns,
    usb::{Interface, InterfaceRef, Pipe, UsbDevice, UsbDeviceRef},
    usbcore_sg::{DmaBuf, Mapping, Segments, SgRequest, TransferError},
};

/// Bulk-Only Mass Storage Reset (BOT 3.1).
const BULK_ONLY_RESET: u8 = 0xff;
/// Get Max LUN (BOT 3.2).
const GET_MAX_LUN: u8 = 0xfe;

/// Per-stage timeouts in milliseconds (module parameters, read at probe).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// Sending the CBW.
    pub(crate) cbw_ms: u32,
    /// The data stage.
    pub(crate) data_ms: u32,
    /// Receiving the CSW (the device may be writing its cache meanwhile).
    pub(crate) csw_ms: u32,
    /// Control requests: GET MAX LUN, Bulk-Only reset, clear halt, and every stage
    /// of the TEST UNIT READY that checks a device after a reset.
    pub(crate) ctrl_ms: u32,
    /// The time a block request may take in all, retries and recovery included:
    /// the default of its queue's `io_timeout`.
    pub(crate) io_ms: u32,
    /// When the whole command must be over (`ktime_get()` nanoseconds; `i64::MAX`
    /// for none): a block request's deadline. Every stage ends by then, whatever
    /// its own timeout says.
    pub(crate) deadline_ns: i64,
}

impl Timeouts {
    /// All stages bounded by the control timeout: for the command that checks
    /// whether a reset brought the device back.
    fn short(&self) -> Self {
        Self {
            cbw_ms: self.ctrl_ms,
            data_ms: self.ctrl_ms,
            csw_ms: self.ctrl_ms,
            ctrl_ms: self.ctrl_ms,
            io_ms: self.io_ms,
            deadline_ns: self.deadline_ns,
        }
    }

    /// These timeouts, with every stage over by `deadline_ns` as well.
    pub(crate) fn by(self, deadline_ns: i64) -> Self {
        Self {
            deadline_ns,
            ..self
        }
    }

    /// A stage timeout of `ms`, cut to what is left before the deadline, and at
    /// least 1 ms: to the USB core's synchronous calls 0 means no timeout at all.
    pub(crate) fn left(&self, ms: u32) -> u32 {
        if self.deadline_ns == i64::MAX {
            return ms;
        }
        let left_ms = self.deadline_ns.saturating_sub(now_ns()) / 1_000_000;
        ms.min(u32::try_from(left_ms.max(1)).unwrap_or(u32::MAX))
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        self.deadline_ns != i64::MAX && now_ns() >= self.deadline_ns
    }
}

/// The data stage of a command.
pub(crate) enum Data<'a> {
    /// No data stage.
    None,
    /// Device to host into these segments.
    In(Segments<'a>),
    /// Host to device from these segments.
    Out(Segments<'a>),
}

/// A command the device answered with a valid CSW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Status 0: passed, with `residue` bytes not transferred.
    Passed {
        /// Bytes of the data stage not transferred.
        residue: u32,
    },
    /// Status 1: failed; the sense data says why.
    Failed {
        /// Bytes of the data stage not transferred.
        residue: u32,
    },
}

/// The BOT stage in which a command went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Sending the CBW.
    Cbw,
    /// The data stage.
    Data,
    /// Receiving the CSW.
    Csw,
}

impl Stage {
    /// The stage's name in log lines.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stage::Cbw => "CBW",
            Stage::Data => "data",
            Stage::Csw => "CSW",
        }
    }
}

/// What broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The stage timed out and was cancelled.
    Timeout,
    /// The endpoint stalled and the halt could not be cleared.
    Stall,
    /// The CBW was not taken whole.
    ShortCbw,
    /// The CSW is not 13 bytes, or has an unknown signature.
    BadCsw,
    /// The CSW answers another command.
    WrongTag,
    /// The CSW reports a residue larger than the transfer.
    BadResidue,
    /// The CSW status is 2 (phase error) or undefined.
    PhaseError,
    /// A USB error (babble, CRC, ...) or a mapping failure.
    Usb,
}

impl Fault {
    /// The fault's name in log lines.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::Timeout => "timeout",
            Fault::Stall => "stall not cleared",
            Fault::ShortCbw => "short CBW",
            Fault::BadCsw => "invalid CSW",
            Fault::WrongTag => "CSW tag mismatch",
            Fault::BadResidue => "CSW residue larger than the transfer",
            Fault::PhaseError => "phase error",
            Fault::Usb => "USB error",
        }
    }
}

/// A command that did not end with a valid CSW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransportError {
    /// The device broke the protocol in a stage; Reset Recovery is due.
    Broken(Stage, Fault),
    /// The device is gone (unplugged, or its port disabled).
    Gone,
    /// The device was given up (a port reset could not bring it back) and is
    /// not tried again before its backoff ends.
    Dead,
}

/// First wait before a device that was given up is tried again.
const BACKOFF_FIRST_MS: u32 = 1000;
/// Longest wait between two tries of a device that was given up.
const BACKOFF_MAX_MS: u32 = 60_000;

/// When a device that was given up is tried again.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    /// `ktime_get()` nanoseconds from when the next command tries a port reset.
    retry_at_ns: i64,
    /// The wait that led there; doubled after each try that fails.
    wait_ms: u32,
}

/// The Bulk-Only transport of one device.
pub(crate) struct Bot {
    intf: InterfaceRef,
    udev: UsbDeviceRef,
    /// The interface name (`1-1:1.0`), for log lines.
    pub(crate) name: CString,
    ifnum: u8,
    bulk_in: Pipe,
    bulk_out: Pipe,
    /// The stage timeouts, which sysfs may change (read as each command starts).
    knobs: Arc<Knobs>,
    /// The time a block request may take in all (see [`Timeouts::io_ms`]).
    io_ms: u32,
    tag: u32,
    /// The CSW signature this device uses, when its first CSW carried one other
    /// than `USBS`.
    learned_signature: Option<u32>,
    /// A CSW was accepted already: the signature can no longer be learned.
    csw_seen: bool,
    /// The device reports bogus residues: ignore them (usb-storage's
    /// US_FL_IGNORE_RESIDUE, detected the same way).
    ignore_residue: bool,
    /// The device does not echo the CBW's tag in its CSW (quirk `T`).
    ignore_tag: bool,
    /// Pause after the CBW before the data stage (quirk `S`, usb-storage's
    /// `GO_SLOW`).
    go_slow: bool,
    /// Given up: a port reset did not bring the device back (its re-enumeration
    /// failed). Commands fail at once until the backoff ends; the next one then
    /// tries a port reset first.
    given_up: Option<Backoff>,
    /// Set while this transport resets the port itself, for the driver's reset
    /// callbacks (which must not wait for it).
    self_reset: Arc<AtomicBool>,
    /// The probe holds the USB device lock and waits for this transport's
    /// commands (set from creation until the probe's end): a port reset must not
    /// take the lock, it would only time out.
    pub(crate) probing: bool,
    cbw: DmaBuf,
    csw: DmaBuf,
    req: Pin<KBox<SgRequest>>,
    /// The chained command path's URBs; `None` runs the stages one by one.
    chain: Option<Pin<KBox<Chain>>>,
    /// The interface was unbound: no command is sent any more, and the chain's
    /// coherent buffers went back to the host controller's pools.
    released: bool,
    /// What the transport did, for sysfs.
    pub(crate) stats: Arc<Counters>,
}

/// A CDB's command name for log lines.
pub(crate) fn cdb_name(op: u8) -> &'static str {
    match op {
        cdb::TEST_UNIT_READY => "TEST UNIT READY",
        cdb::REQUEST_SENSE => "REQUEST SENSE",
        cdb::INQUIRY => "INQUIRY",
        cdb::MODE_SENSE_6 => "MODE SENSE(6)",
        cdb::MODE_SENSE_10 => "MODE SENSE(10)",
        cdb::START_STOP_UNIT => "START STOP UNIT",
        cdb::PREVENT_ALLOW_MEDIUM_REMOVAL => "PREVENT ALLOW MEDIUM REMOVAL",
        cdb::READ_CAPACITY_10 => "READ CAPACITY(10)",
        cdb::SERVICE_ACTION_IN_16 => "READ CAPACITY(16)",
        cdb::READ_10 => "READ(10)",
        cdb::WRITE_10 => "WRITE(10)",
        cdb::READ_16 => "READ(16)",
        cdb::WRITE_16 => "WRITE(16)",
        cdb::SYNCHRONIZE_CACHE_10 => "SYNCHRONIZE CACHE(10)",
        cdb::SYNCHRONIZE_CACHE_16 => "SYNCHRONIZE CACHE(16)",
        _ => "command",
    }
}

impl Bot {
    /// Sets up the transport of `intf` over the given bulk pipes.
    pub(crate) fn new(
        intf: &Interface,
        bulk_in: Pipe,
        bulk_out: Pipe,
        timeouts: Timeouts,
        quirks: Quirks,
        pipeline: bool,
        stats: Arc<Counters>,
    ) -> Result<Self> {
        let udev = intf.get_usb_device();
        // The chained path queues the data stage behind the CBW at once: not
        // for devices that need a pause between them, nor a longer CBW.
        let cbw_len = if quirks.contains(Quirks::BULK32) {
            CBW_LEN + 1
        } else {
            CBW_LEN
        };
        let go_slow = quirks.contains(Quirks::GO_SLOW);
        let chain = if pipeline && cbw_len == CBW_LEN && !go_slow {
            Some(KBox::pin_init(Chain::new(&udev), GFP_KERNEL)?)
        } else {
            None
        };
        Ok(Self {
            intf: intf.get_ref(),
            udev,
            name: CString::try_from(intf.name())?,
            ifnum: intf.number(),
            bulk_in,
            bulk_out,
            knobs: Arc::new(
                Knobs::new(
                    timeouts.cbw_ms,
                    timeouts.data_ms,
                    timeouts.csw_ms,
                    timeouts.ctrl_ms,
                ),
                GFP_KERNEL,
            )?,
            io_ms: timeouts.io_ms,
            tag: 0,
            learned_signature: None,
            csw_seen: false,
            ignore_residue: quirks.contains(Quirks::IGNORE_RESIDUE),
            ignore_tag: quirks.contains(Quirks::BULK_IGNORE_TAG),
            go_slow,
            given_up: None,
            self_reset: Arc::new(AtomicBool::new(false), GFP_KERNEL)?,
            probing: true,
            // What the CBW goes out as: its 31 bytes, or 32 with a zero pad
            // byte (zeroed here, never written) for devices that take nothing
            // shorter (quirk `B`, usb-storage's `BULK32`).
            cbw: DmaBuf::new(cbw_len)?,
            csw: DmaBuf::new(CSW_LEN)?,
            req: KBox::pin_init(SgRequest::new(), GFP_KERNEL)?,
            chain,
            released: false,
            stats,
        })
    }

    /// GET MAX LUN: the highest LUN number, 0 when the device stalls the request
    /// (single-LUN devices may) or answers nonsense.
    pub(crate) fn get_max_lun(&mut self, buf: &mut DmaBuf) -> u8 {
        match self.udev.class_request(
            true,
            GET_MAX_LUN,
            self.ifnum.into(),
            buf,
            1,
            self.timeouts().ctrl_ms,
        ) {
            Ok(1) => match buf.as_slice().first() {
                Some(&n) if n <= 15 => n,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Runs one command. `len` is the data stage length in bytes.
    pub(crate) fn command(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        data: Data<'_>,
        len: u32,
    ) -> Result<Outcome, TransportError> {
        self.command_with(lun, cdb, data, len, self.timeouts())
    }

    /// Runs one command whose data and status stages may take `timeout_ms` each
    /// (a passthrough caller's timeout; 0 keeps the defaults).
    pub(crate) fn command_timed(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        data: Data<'_>,
        len: u32,
        timeout_ms: u32,
    ) -> Result<Outcome, TransportError> {
        let mut t = self.timeouts();
        if timeout_ms > 0 {
            t.data_ms = timeout_ms;
            t.csw_ms = timeout_ms;
        }
        self.command_with(lun, cdb, data, len, t)
    }

    /// TEST UNIT READY with every stage bounded by the control timeout: whether
    /// the device answers commands again after a reset. Any valid CSW will do
    /// (a UNIT ATTENTION after a reset is expected).
    pub(crate) fn answers(&mut self, lun: u8) -> Result<(), TransportError> {
        let t = self.timeouts().short();
        self.command_with(lun, &cdb::test_unit_ready(), Data::None, 0, t)
            .map(|_| ())
    }

    /// The interface is being unbound: send nothing any more, and give the
    /// chain's URBs and coherent buffers back now. The buffers come from the host
    /// controller's DMA pools, which its removal destroys, while an open file may
    /// keep this transport alive long after (usb-storage frees them in
    /// `disconnect` for the same reason).
    pub(crate) fn release(&mut self) {
        self.released = true;
        self.chain = None;
    }

    /// Whether [`Bot::release`] was called.
    pub(crate) fn is_released(&self) -> bool {
        self.released
    }

    /// Runs one command with the timeouts `t` (a block request's end by its
    /// deadline). A device given up fails it at once, or, once its backoff is
    /// over, gets a port reset first.
    pub(crate) fn command_with(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        data: Data<'_>,
        len: u32,
        t: Timeouts,
    ) -> Result<Outcome, TransportError> {
        if self.released {
            return Err(TransportError::Gone);
        }
        if let Some(b) = self.given_up {
            if now_ns() < b.retry_at_ns {
                return Err(TransportError::Dead);
            }
            self.given_up = None;
            // Another chance: the port reset that failed last time, then the
            // check that the device answers (a command, so this recurses once).
            let back = match self.port_reset() {
                Ok(()) => self.answers(lun),
                Err(_) => Err(TransportError::Dead),
            };
            match back {
                Ok(()) => pr_info!("{}: device answers again after a port reset\n", &*self.name),
                Err(TransportError::Gone) => return Err(TransportError::Gone),
                Err(_) => {
                    self.give_up(b.wait_ms.saturating_mul(2));
                    return Err(TransportError::Dead);
                }
            }
        }
        let out = self.exchange(lun, cdb, data, len, t);
        self.account(&out);
        out
    }

    /// Counts how the command with the current tag ended, and traces it.
    fn account(&self, out: &Result<Outcome, TransportError>) {
        let tag = self.tag;
        match *out {
            Ok(Outcome::Passed { residue }) => {
                if residue > 0 {
                    self.stats.inc(Counter::Residues);
                }
                self.intf.trace_csw(tag, residue, 0);
            }
            Ok(Outcome::Failed { residue }) => {
                self.stats.inc(Counter::CheckConditions);
                self.intf.trace_csw(tag, residue, 1);
            }
            Err(TransportError::Broken(stage, fault)) => {
                self.stats.inc(match fault {
                    Fault::Timeout => Counter::Timeouts,
                    Fault::Stall => Counter::Stalls,
                    Fault::BadCsw => Counter::BadCsws,
                    Fault::WrongTag => Counter::TagMismatches,
                    Fault::BadResidue => Counter::BadResidues,
                    Fault::PhaseError => Counter::PhaseErrors,
                    Fault::ShortCbw | Fault::Usb => Counter::UsbErrors,
                });
                self.intf.trace_error(tag, stage.name(), fault.name());
            }
            Err(TransportError::Gone) => {
                self.stats.inc(Counter::Gone);
                self.intf.trace_error(tag, "any", "device gone");
            }
            Err(TransportError::Dead) => {}
        }
    }

    /// Clears a halt on `pipe`, counted.
    fn clear_halt(&self, pipe: Pipe, timeout_ms: u32) -> Result<(), TransferError> {
        self.stats.inc(Counter::ClearHalts);
        self.udev.clear_halt(pipe, timeout_ms)
    }

    /// The three stages of one command.
    fn exchange(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        data: Data<'_>,
        len: u32,
        t: Timeouts,
    ) -> Result<Outcome, TransportError> {
        let dir = match (&data, len) {
            (Data::In(_), 1..) => Direction::In,
            (Data::Out(_), 1..) => Direction::Out,
            _ => Direction::None,
        };
        self.tag = self.tag.wrapping_add(1);
        let tag = self.tag;
        let Ok(cbw) = Cbw::new(tag, len, dir, lun, cdb.as_bytes()) else {
            return Err(TransportError::Broken(Stage::Cbw, Fault::Usb));
        };
        let cbw = cbw.encode();
        self.stats.inc(Counter::Commands);
        self.intf
            .trace_cbw(tag, lun, cdb.opcode(), len, dir == Direction::In);

        let mut data_stage = match data {
            Data::In(sg) if len > 0 => Some((self.bulk_in, sg)),
            Data::Out(sg) if len > 0 => Some((self.bulk_out, sg)),
            _ => None,
        };
        // The data stage is mapped before the CBW goes out: the device waits for
        // nothing but the bus once it has the command.
        let stages = {
            let Self {
                udev,
                chain,
                req,
                cbw: cbw_buf,
                csw: csw_buf,
                bulk_in,
                bulk_out,
                go_slow,
                ..
            } = self;
            let mut wire = Wire {
                go_slow: *go_slow,
                udev,
                chain: chain.as_ref().map(|c| c.as_ref()),
                req: req.as_mut(),
                cbw: cbw_buf,
                csw: csw_buf,
                bulk_in: *bulk_in,
                bulk_out: *bulk_out,
            };
            match data_stage.as_mut() {
                Some((pipe, sg)) => match Mapping::new(udev, *pipe, sg) {
                    Ok(mut mapping) => wire.stages(&cbw, Some((*pipe, &mut mapping)), len, t),
                    Err(_) => return Err(TransportError::Broken(Stage::Data, Fault::Usb)),
                },
                None => wire.stages(&cbw, None, 0, t),
            }
        };

        match stages.cbw {
            Ok(n) if n == self.cbw.as_slice().len() => {}
            Ok(_) => return Err(TransportError::Broken(Stage::Cbw, Fault::ShortCbw)),
            Err(e) => return Err(broken(Stage::Cbw, e)),
        }

        // Bytes the data stage really moved; a CSW residue may not claim less missing.
        let mut moved = 0;
        if let Some((pipe, mut sg)) = data_stage {
            let Some((bytes, status)) = stages.data else {
                return Err(TransportError::Broken(Stage::Data, Fault::Usb));
            };
            moved = bytes;
            self.stats.add(
                if pipe.is_in() {
                    Counter::BytesIn
                } else {
                    Counter::BytesOut
                },
                moved as u64,
            );
            self.intf.trace_data(
                tag,
                len,
                moved,
                status.as_ref().map_or_else(|e| e.errno(), |()| 0),
            );
            match status {
                // Some devices answer a command they cannot serve with the CSW in
                // place of the data: take it as the CSW rather than wait for one.
                Err(TransferError::Short) if pipe.is_in() && moved == CSW_LEN => {
                    let mut head = [0u8; CSW_LEN];
                    if sg.copy_prefix(&mut head) == CSW_LEN {
                        if let Ok(csw) = Csw::parse(&head) {
                            if csw.tag == tag && csw.signature == self.signature() {
                                kernel::pr_warn_once!(
                                    "{}: device sent its CSW in place of data; accepting it\n",
                                    &*self.name
                                );
                                return self.check_csw(&csw, tag, len).map(|o| match o {
                                    Outcome::Passed { .. } => Outcome::Passed { residue: len },
                                    failed => failed,
                                });
                            }
                        }
                    }
                }
                // A short transfer is reported by the residue in the CSW.
                Ok(()) | Err(TransferError::Short) => {}
                // BOT 6.7.2/6.7.3: a stalled data stage is cleared, then the CSW read.
                Err(TransferError::Stall) => {
                    self.stats.inc(Counter::Stalls);
                    if let Err(e) = self.clear_halt(pipe, t.left(t.ctrl_ms)) {
                        return Err(match e {
                            TransferError::Gone => TransportError::Gone,
                            _ => TransportError::Broken(Stage::Data, Fault::Stall),
                        });
                    }
                }
                Err(e) => return Err(broken(Stage::Data, e)),
            }
        }

        let csw = self.read_csw(stages.csw, &t)?;
        match self.check_csw(&csw, tag, len)? {
            Outcome::Passed { residue } => Ok(Outcome::Passed {
                residue: self.settle_residue(cdb, dir, len, moved as u32, residue),
            }),
            // The sense of a failed command may claim it completed (RECOVERED
            // ERROR): its residue must show what really went missing too.
            Outcome::Failed { residue } => {
                let missing = len.saturating_sub(moved as u32);
                Ok(Outcome::Failed {
                    residue: if self.ignore_residue {
                        missing
                    } else {
                        residue.max(missing)
                    },
                })
            }
        }
    }

    /// The residue of a passed command: what the device reported, but never fewer
    /// bytes than really went missing (or the block layer would complete garbage as
    /// data), and none at all from a device known to report bogus residues.
    fn settle_residue(
        &mut self,
        cdb: &Cdb,
        dir: Direction,
        len: u32,
        moved: u32,
        residue: u32,
    ) -> u32 {
        let missing = len.saturating_sub(moved);
        if residue <= missing {
            return missing;
        }
        if self.ignore_residue {
            return missing;
        }
        // usb-storage's heuristic: a residue on a complete INQUIRY or READ
        // CAPACITY(10) means the device's residues are bogus.
        let probe_cmd = (cdb.opcode() == cdb::INQUIRY && len == 36)
            || (cdb.opcode() == cdb::READ_CAPACITY_10 && len == 8);
        if missing == 0 && dir == Direction::In && probe_cmd {
            pr_info!(
                "{}: device reports residue {} for a complete {}; ignoring residues\n",
                &*self.name,
                residue,
                cdb_name(cdb.opcode())
            );
            self.ignore_residue = true;
            return 0;
        }
        residue
    }

    /// The signature CSWs of this device carry.
    fn signature(&self) -> u32 {
        self.learned_signature.unwrap_or(CSW_SIGNATURE)
    }

    /// Reads the CSW (BOT 5.3.3 and 6.3): one more read after a stall (cleared)
    /// or a zero-length packet. `first` is the result of a read already done
    /// (into `self.csw`).
    fn read_csw(
        &mut self,
        mut first: Option<core::result::Result<usize, TransferError>>,
        t: &Timeouts,
    ) -> Result<Csw, TransportError> {
        let mut stalls = 0;
        let mut empties = 0;
        let n = loop {
            let read = match first.take() {
                Some(r) => r,
                None => self
                    .udev
                    .bulk_msg(self.bulk_in, &mut self.csw, CSW_LEN, t.left(t.csw_ms)),
            };
            match read {
                Ok(0) if empties == 0 => empties += 1,
                Ok(n) => break n,
                Err(TransferError::Stall) if stalls == 0 => {
                    stalls += 1;
                    self.stats.inc(Counter::Stalls);
                    match self.clear_halt(self.bulk_in, t.left(t.ctrl_ms)) {
                        Ok(()) => {}
                        Err(TransferError::Gone) => return Err(TransportError::Gone),
                        Err(_) => return Err(TransportError::Broken(Stage::Csw, Fault::Stall)),
                    }
                }
                Err(e) => return Err(broken(Stage::Csw, e)),
            }
        };
        match self.csw.as_slice().get(..n).map(Csw::parse) {
            Some(Ok(csw)) => Ok(csw),
            _ => Err(TransportError::Broken(Stage::Csw, Fault::BadCsw)),
        }
    }

    /// Checks a CSW against the command it should answer (BOT 6.3).
    fn check_csw(&mut self, csw: &Csw, tag: u32, len: u32) -> Result<Outcome, TransportError> {
        // usb-storage's BULK_IGNORE_TAG: whatever tag the device sends is this
        // command's (one command is in flight at a time).
        let tag = if self.ignore_tag { csw.tag } else { tag };
        let mut sig = self.signature();
        // Learn a non-standard signature from the device's first CSW, as
        // usb-storage does, and only if the rest of it is meaningful: later, a
        // changed signature is a broken CSW.
        if csw.signature != sig && !self.csw_seen && csw.check(tag, len, csw.signature).is_ok() {
            pr_info!(
                "{}: device signs its CSWs {:#010x} instead of {:#010x}; accepting that\n",
                &*self.name,
                csw.signature,
                CSW_SIGNATURE
            );
            self.learned_signature = Some(csw.signature);
            sig = csw.signature;
        }
        let checked = csw.check(tag, len, sig);
        if checked.is_ok() {
            self.csw_seen = true;
        }
        match checked {
            Ok(CswStatus::Passed { residue }) => Ok(Outcome::Passed { residue }),
            Ok(CswStatus::Failed { residue }) => Ok(Outcome::Failed { residue }),
            Ok(CswStatus::PhaseError) | Err(CswError::BadStatus(_)) => {
                Err(TransportError::Broken(Stage::Csw, Fault::PhaseError))
            }
            Err(CswError::TagMismatch { .. }) => {
                Err(TransportError::Broken(Stage::Csw, Fault::WrongTag))
            }
            Err(CswError::ResidueTooLarge { .. }) => {
                Err(TransportError::Broken(Stage::Csw, Fault::BadResidue))
            }
            Err(_) => Err(TransportError::Broken(Stage::Csw, Fault::BadCsw)),
        }
    }

    /// Reset Recovery (BOT 5.3.4): Bulk-Only Mass Storage Reset, then clear halt on
    /// both bulk endpoints.
    pub(crate) fn reset_recovery(&mut self) -> Result<(), TransferError> {
        let ms = self.timeouts().ctrl_ms;
        self.stats.inc(Counter::BulkResets);
        self.udev.class_request(
            false,
            BULK_ONLY_RESET,
            self.ifnum.into(),
            &mut self.csw,
            0,
            ms,
        )?;
        self.clear_halt(self.bulk_in, ms)?;
        self.clear_halt(self.bulk_out, ms)
    }

    /// A USB port reset of the device (the driver's `pre_reset`/`post_reset` run
    /// meanwhile and must not wait for the caller).
    pub(crate) fn port_reset(&mut self) -> Result {
        self.stats.inc(Counter::PortResets);
        self.self_reset.store(true, Ordering::Release);
        let r = if self.probing {
            // SAFETY: While `probing` is set, the probe holds the device lock (the
            // driver core takes it around probe) and either runs this itself or
            // waits for it: it clears `probing` under the transport lock, which the
            // caller holds, before it returns.
            unsafe { self.intf.port_reset_locked() }
        } else {
            self.intf.port_reset()
        };
        self.self_reset.store(false, Ordering::Release);
        r
    }

    /// The timeouts a command starting now gets (no deadline).
    pub(crate) fn timeouts(&self) -> Timeouts {
        Timeouts {
            cbw_ms: self.knobs.get(Knob::Cbw),
            data_ms: self.knobs.get(Knob::Data),
            csw_ms: self.knobs.get(Knob::Csw),
            ctrl_ms: self.knobs.get(Knob::Ctrl),
            io_ms: self.io_ms,
            deadline_ns: i64::MAX,
        }
    }

    /// The stage timeouts, for the interface's sysfs attributes.
    pub(crate) fn knobs(&self) -> Arc<Knobs> {
        self.knobs.clone()
    }

    /// The flag that is set while this transport resets the port itself.
    pub(crate) fn self_reset_flag(&self) -> Arc<AtomicBool> {
        self.self_reset.clone()
    }

    /// Gives the device up for `wait_ms` (at least [`BACKOFF_FIRST_MS`], at most
    /// [`BACKOFF_MAX_MS`]): a port reset could not bring it back. Commands fail
    /// at once meanwhile; the first one after it tries a port reset again.
    pub(crate) fn give_up(&mut self, wait_ms: u32) {
        let wait_ms = wait_ms.clamp(BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
        self.stats.inc(Counter::Dead);
        // At most once a second, and once a minute when it lasts.
        pr_err!(
            "{}: device not answering, not even after a port reset; its I/O fails at once, next try in {} s\n",
            &*self.name,
            wait_ms / 1000
        );
        self.given_up = Some(Backoff {
            retry_at_ns: now_ns().saturating_add(i64::from(wait_ms) * 1_000_000),
            wait_ms,
        });
    }

    /// A device given up is tried again with the next command (a new open, or
    /// someone else's reset, gives it another chance at once).
    pub(crate) fn retry_now(&mut self) {
        if let Some(b) = self.given_up.as_mut() {
            b.retry_at_ns = now_ns();
        }
    }

    /// Someone else reset the device: whatever made it give up is over.
    pub(crate) fn reset_by_others(&mut self) {
        self.given_up = None;
    }
}

/// What the stages of one command go over: split from [`Bot`] so that the data
/// stage's mapping can borrow the device meanwhile.
struct Wire<'a> {
    udev: &'a UsbDevice,
    chain: Option<Pin<&'a Chain>>,
    req: Pin<&'a mut SgRequest>,
    cbw: &'a mut DmaBuf,
    csw: &'a mut DmaBuf,
    bulk_in: Pipe,
    bulk_out: Pipe,
    /// [`Bot::go_slow`] (stage by stage only).
    go_slow: bool,
}

impl Wire<'_> {
    /// Sends the CBW and, as long as each stage ends cleanly, moves the data and
    /// reads the CSW (into the transport's CSW buffer): chained on the device's URBs, or one
    /// stage after the other with the USB core's synchronous calls.
    fn stages(
        &mut self,
        cbw: &[u8; CBW_LEN],
        data: Option<(Pipe, &mut Mapping<'_, '_>)>,
        len: u32,
        t: Timeouts,
    ) -> Stages {
        if let Some(chain) = self.chain {
            let stages = chain.run(self.udev, self.bulk_out, self.bulk_in, cbw, data, len, t);
            if let Some(Ok(n)) = stages.csw {
                let n = n.min(CSW_LEN);
                if let (Some(dst), Some(src)) =
                    (self.csw.as_mut_slice().get_mut(..n), chain.csw().get(..n))
                {
                    dst.copy_from_slice(src);
                }
            }
            return stages;
        }

        // The whole buffer goes out: a 32-byte one keeps its zero pad byte.
        let cbw_len = self.cbw.as_slice().len();
        if let Some(dst) = self.cbw.as_mut_slice().get_mut(..CBW_LEN) {
            dst.copy_from_slice(cbw);
        }
        let sent = self
            .udev
            .bulk_msg(self.bulk_out, self.cbw, cbw_len, t.left(t.cbw_ms));
        let mut stages = Stages {
            cbw: sent,
            data: None,
            csw: None,
        };
        if sent != Ok(cbw_len) {
            return stages;
        }
        if self.go_slow {
            // usb-storage's usleep_range(125, 150) for these devices.
            fsleep(Delta::from_micros(125));
        }
        if let Some((pipe, mapping)) = data {
            let xfer = self.req.as_mut().transfer(
                pipe,
                mapping,
                len as usize,
                Delta::from_millis(t.left(t.data_ms).into()),
            );
            stages.data = Some((xfer.bytes, xfer.status));
            if xfer.status.is_err() {
                return stages;
            }
        }
        stages.csw = Some(
            self.udev
                .bulk_msg(self.bulk_in, self.csw, CSW_LEN, t.left(t.csw_ms)),
        );
        stages
    }
}

/// Maps a failed transfer of `stage` to a transport error.
fn broken(stage: Stage, e: TransferError) -> TransportError {
    match e {
        TransferError::Gone => TransportError::Gone,
        TransferError::TimedOut => TransportError::Broken(stage, Fault::Timeout),
        TransferError::Stall => TransportError::Broken(stage, Fault::Stall),
        _ => TransportError::Broken(stage, Fault::Usb),
    }
}
