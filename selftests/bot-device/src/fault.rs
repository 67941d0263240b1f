//! Faults: the control language, the table of armed faults and the choice of
//! the fault (if any) that applies to each command, including the seeded random
//! mode. Pure logic; the BOT engine carries the chosen fault out.

use crate::scsi::op;
use std::fmt;

/// A misbehaviour. See README.md for what each one does on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    SilentCbw,
    SilentData,
    SilentCsw,
    StallIn,
    StallOut,
    StallCsw,
    BadSignature,
    WrongTag,
    PhaseError,
    Status3,
    ResidueTooLarge,
    ShortNoResidue,
    CswAsData,
    ZeroLengthCsw,
    ZeroLengthCswOnly,
    GarbageSense,
    AltSignature,
    BogusResidue,
    CapacityZero,
    CapacityBs1,
    CapacityBs1m,
    CapacityMaxLba,
    NotReady,
    MediumError,
    UnitAttention,
    Aborted,
    DisconnectData,
    DisconnectCsw,
    /// CHECK CONDITION, RECOVERED ERROR 01/17/01, but nothing moved.
    RecoveredError,
    /// The next READ is answered before its CBW is read.
    EarlyAnswer,
    /// NOT READY 02/04/02 until a START STOP UNIT (START=1, LOEJ=0).
    NotReadyUntilStart,
    /// A 13-byte CSW with status 1 (right tag, residue 0) as the data-in, no
    /// CSW after it; the sense RECOVERED ERROR 01/17/01, INFORMATION the LBA.
    CswAsDataRecovered,
    /// The same with the sense MEDIUM ERROR 03/11/00, INFORMATION the LBA of
    /// the command's middle block: it names blocks before it as read.
    CswAsDataMedium,
    /// The CSW after a pause of `ms=` milliseconds: a command the device takes
    /// its time over (a SYNCHRONIZE CACHE writing a large cache).
    SlowCsw,
    /// Random mode only: random CSW fields.
    RandomCsw,
    /// Random mode only: a random length of the data phase.
    RandomLength,
    /// Random mode only: CHECK CONDITION with random (well-formed) sense.
    RandomSense,
}

const NAMES: &[(Mode, &str)] = &[
    (Mode::SilentCbw, "silent-cbw"),
    (Mode::SilentData, "silent-data"),
    (Mode::SilentCsw, "silent-csw"),
    (Mode::StallIn, "stall-in"),
    (Mode::StallOut, "stall-out"),
    (Mode::StallCsw, "stall-csw"),
    (Mode::BadSignature, "bad-signature"),
    (Mode::WrongTag, "wrong-tag"),
    (Mode::PhaseError, "phase-error"),
    (Mode::Status3, "status-3"),
    (Mode::ResidueTooLarge, "residue-too-large"),
    (Mode::ShortNoResidue, "short-no-residue"),
    (Mode::CswAsData, "csw-as-data"),
    (Mode::ZeroLengthCsw, "zero-length-csw"),
    (Mode::ZeroLengthCswOnly, "zero-length-csw-only"),
    (Mode::GarbageSense, "garbage-sense"),
    (Mode::AltSignature, "alt-signature"),
    (Mode::BogusResidue, "bogus-residue"),
    (Mode::CapacityZero, "capacity-zero"),
    (Mode::CapacityBs1, "capacity-bs1"),
    (Mode::CapacityBs1m, "capacity-bs1m"),
    (Mode::CapacityMaxLba, "capacity-maxlba"),
    (Mode::NotReady, "not-ready"),
    (Mode::MediumError, "medium-error"),
    (Mode::UnitAttention, "unit-attention"),
    (Mode::Aborted, "aborted"),
    (Mode::DisconnectData, "disconnect-data"),
    (Mode::DisconnectCsw, "disconnect-csw"),
    (Mode::RecoveredError, "recovered-error"),
    (Mode::EarlyAnswer, "early-answer"),
    (Mode::NotReadyUntilStart, "not-ready-until-start"),
    (Mode::SlowCsw, "slow-csw"),
    (Mode::CswAsDataRecovered, "csw-as-data-recovered"),
    (Mode::CswAsDataMedium, "csw-as-data-medium"),
    (Mode::RandomCsw, "random-csw"),
    (Mode::RandomLength, "random-length"),
    (Mode::RandomSense, "random-sense"),
];

impl Mode {
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("?", |(_, n)| n)
    }

    /// A mode the `fault` command can arm (the random-only ones cannot).
    pub fn parse(s: &str) -> Option<Mode> {
        NAMES
            .iter()
            .find(|(m, n)| *n == s && !m.random_only())
            .map(|(m, _)| *m)
    }

    fn random_only(self) -> bool {
        matches!(
            self,
            Mode::RandomCsw | Mode::RandomLength | Mode::RandomSense
        )
    }

    /// Modes random mode draws from besides its own: all but silent-cbw (decided
    /// before a CBW is read), the disconnecting ones, and the modes added after
    /// random mode (so that a seed keeps its decisions; early-answer and
    /// not-ready-until-start also outlive the command they act on).
    fn drawable(self) -> bool {
        !matches!(
            self,
            Mode::SilentCbw
                | Mode::DisconnectData
                | Mode::DisconnectCsw
                | Mode::RecoveredError
                | Mode::EarlyAnswer
                | Mode::NotReadyUntilStart
                | Mode::SlowCsw
                | Mode::CswAsDataRecovered
                | Mode::CswAsDataMedium
        )
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Signature sent by `alt-signature`: "USBS" byte-swapped, that is the bytes
/// `S B S U` on the wire (0x55534253 read little-endian, where the
/// specification's 'USBS' is 0x53425355).
pub const ALT_SIGNATURE_SWAPPED: u32 = 0x5553_4253;
/// The Olympus signature "USBU" (0x55425355), which usb-storage learns.
pub const ALT_SIGNATURE_OLYMPUS: u32 = 0x5542_5355;
/// slow-csw's pause without `ms=`.
const SLOW_CSW_DEFAULT_MS: u64 = 1000;

/// The longest `slow-control` delay: the USB core waits 5 s for a control
/// request, so that each delayed one is answered, not timed out.
const SLOW_CONTROL_MAX_MS: u64 = 4900;

/// Signature sent by `bad-signature`: the bytes `B A D S`.
pub const BAD_SIGNATURE: u32 = u32::from_le_bytes(*b"BADS");

/// Data-out is read in whole packets: a UDC fails a request with EOVERFLOW
/// when the host's next packet does not fit in it.
pub const OUT_PACKET: u32 = 512;

/// Data direction of a CBW (`None` when dCBWDataTransferLength is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    None,
    In,
    Out,
}

impl Dir {
    pub fn name(self) -> &'static str {
        match self {
            Dir::None => "none",
            Dir::In => "in",
            Dir::Out => "out",
        }
    }
}

/// What the fault filters look at in a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdInfo {
    pub seq: u64,
    pub opcode: u8,
    /// CDB byte 1 (the service action of SERVICE ACTION IN).
    pub byte1: u8,
    /// CDB byte 4 (LOEJ and START of START STOP UNIT).
    pub byte4: u8,
    pub len: u32,
    pub dir: Dir,
}

impl CmdInfo {
    fn is_readcap(&self) -> bool {
        self.opcode == op::READ_CAPACITY_10
            || (self.opcode == op::SERVICE_ACTION_IN_16
                && self.byte1 & 0x1f == op::SAI_READ_CAPACITY_16)
    }

    fn is_rw(&self) -> bool {
        matches!(
            self.opcode,
            op::READ_10 | op::READ_16 | op::WRITE_10 | op::WRITE_16
        )
    }

    fn is_read(&self) -> bool {
        matches!(self.opcode, op::READ_10 | op::READ_16)
    }

    /// START STOP UNIT with START set and LOEJ clear: spin up.
    fn is_start(&self) -> bool {
        self.opcode == op::START_STOP_UNIT && self.byte4 & 0x03 == 0x01
    }
}

/// The `op=` filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpFilter {
    Any,
    Read,
    Write,
    /// READ or WRITE (10/16).
    ReadWrite,
    Inquiry,
    Tur,
    Sense,
    ReadCap,
    ModeSense,
    Sync,
    Opcode(u8),
}

impl OpFilter {
    fn parse(s: &str) -> Option<OpFilter> {
        Some(match s {
            "any" => OpFilter::Any,
            "read" => OpFilter::Read,
            "write" => OpFilter::Write,
            "rw" => OpFilter::ReadWrite,
            "inquiry" => OpFilter::Inquiry,
            "tur" => OpFilter::Tur,
            "sense" => OpFilter::Sense,
            "readcap" => OpFilter::ReadCap,
            "modesense" => OpFilter::ModeSense,
            "sync" => OpFilter::Sync,
            _ => OpFilter::Opcode(parse_u8(s)?),
        })
    }

    fn matches(self, c: &CmdInfo) -> bool {
        match self {
            OpFilter::Any => true,
            OpFilter::Read => c.is_read(),
            OpFilter::Write => matches!(c.opcode, op::WRITE_10 | op::WRITE_16),
            OpFilter::ReadWrite => c.is_rw(),
            OpFilter::Inquiry => c.opcode == op::INQUIRY,
            OpFilter::Tur => c.opcode == op::TEST_UNIT_READY,
            OpFilter::Sense => c.opcode == op::REQUEST_SENSE,
            OpFilter::ReadCap => c.is_readcap(),
            OpFilter::ModeSense => matches!(c.opcode, op::MODE_SENSE_6 | op::MODE_SENSE_10),
            OpFilter::Sync => matches!(
                c.opcode,
                op::SYNCHRONIZE_CACHE_10 | op::SYNCHRONIZE_CACHE_16
            ),
            OpFilter::Opcode(o) => c.opcode == o,
        }
    }
}

impl fmt::Display for OpFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpFilter::Any => f.write_str("any"),
            OpFilter::Read => f.write_str("read"),
            OpFilter::Write => f.write_str("write"),
            OpFilter::ReadWrite => f.write_str("rw"),
            OpFilter::Inquiry => f.write_str("inquiry"),
            OpFilter::Tur => f.write_str("tur"),
            OpFilter::Sense => f.write_str("sense"),
            OpFilter::ReadCap => f.write_str("readcap"),
            OpFilter::ModeSense => f.write_str("modesense"),
            OpFilter::Sync => f.write_str("sync"),
            OpFilter::Opcode(o) => write!(f, "0x{o:02x}"),
        }
    }
}

/// Whether `mode` can act on command `c`. With the default `op=any`, the
/// SCSI-status faults spare INQUIRY and REQUEST SENSE (which a unit answers even
/// when it is not ready) and medium-error and recovered-error hit only
/// READ/WRITE. early-answer acts on data-in READs only and
/// not-ready-until-start never on START STOP UNIT, whatever the op.
pub fn applicable(mode: Mode, c: &CmdInfo, op: OpFilter) -> bool {
    let data = c.len > 0;
    let any = op == OpFilter::Any;
    let spared = any && matches!(c.opcode, op::INQUIRY | op::REQUEST_SENSE);
    match mode {
        Mode::StallIn
        | Mode::ShortNoResidue
        | Mode::CswAsData
        | Mode::CswAsDataRecovered
        | Mode::CswAsDataMedium => data && c.dir == Dir::In,
        Mode::StallOut => data && c.dir == Dir::Out,
        Mode::BogusResidue | Mode::DisconnectData | Mode::RandomLength => data,
        Mode::CapacityZero | Mode::CapacityBs1 | Mode::CapacityBs1m | Mode::CapacityMaxLba => {
            c.is_readcap()
        }
        Mode::MediumError | Mode::RecoveredError => !any || c.is_rw(),
        Mode::EarlyAnswer => data && c.dir == Dir::In && c.is_read(),
        Mode::NotReadyUntilStart => c.opcode != op::START_STOP_UNIT && !spared,
        Mode::NotReady
        | Mode::UnitAttention
        | Mode::Aborted
        | Mode::GarbageSense
        | Mode::RandomSense => !spared,
        _ => true,
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_u8(s: &str) -> Option<u8> {
    parse_u64(s).and_then(|v| u8::try_from(v).ok())
}

/// `count=`: a number of commands, or forever.
fn parse_count(s: &str) -> Option<Option<u64>> {
    if s == "forever" {
        Some(None)
    } else {
        parse_u64(s).filter(|&n| n > 0).map(Some)
    }
}

fn count_str(c: Option<u64>) -> String {
    c.map_or("forever".into(), |n| n.to_string())
}

/// An armed fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub mode: Mode,
    pub op: OpFilter,
    pub skip: u64,
    /// Commands left; `None` is forever.
    pub count: Option<u64>,
    /// CSW signature of alt-signature.
    pub signature: u32,
    /// The `skip=` given: not-ready-until-start with `count=forever` skips
    /// that many again after each spin-up.
    pub rearm_skip: u64,
    /// slow-csw's pause in milliseconds.
    pub delay_ms: u64,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} op={} skip={} count={}",
            self.mode,
            self.op,
            self.skip,
            count_str(self.count)
        )?;
        if self.mode == Mode::AltSignature {
            write!(f, " sig=0x{:08x}", self.signature)?;
        }
        if self.mode == Mode::SlowCsw {
            write!(f, " ms={}", self.delay_ms)?;
        }
        Ok(())
    }
}

/// `random seed=S [count=N|forever] [op=OP] [rate=P]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomSpec {
    pub seed: u64,
    /// Matching commands left; `None` is forever.
    pub count: Option<u64>,
    /// Only commands that pass this filter draw (and count).
    pub op: OpFilter,
    /// Percentage of the drawing commands that misbehave at all (1..=100).
    pub rate: u8,
}

impl fmt::Display for RandomSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "random seed={} count={} op={} rate={}",
            self.seed,
            count_str(self.count),
            self.op,
            self.rate
        )
    }
}

/// One line of the control FIFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    Fault(Fault),
    Random(RandomSpec),
    Clear,
    List,
    Disconnect,
    /// `mute`: from now on answer nothing at all, not even control requests.
    Mute,
    /// `slow-control ms=N`: answer every control request (enumeration
    /// included) N ms late, as a device whose firmware is slow to come back
    /// after a reset; 0 (or `clear`) answers at once again.
    #[allow(clippy::enum_variant_names)]
    SlowControl(u64),
    Nothing,
}

/// Parses a control line; the error is a message for the log.
pub fn parse_control(line: &str) -> Result<Control, String> {
    let line = line.split('#').next().unwrap_or("");
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&cmd, mut rest)) = words.split_first() else {
        return Ok(Control::Nothing);
    };
    let mut mode = None;
    if cmd == "fault" {
        let Some((&name, tail)) = rest.split_first() else {
            return Err("fault needs a mode".into());
        };
        mode = Some(Mode::parse(name).ok_or(format!("unknown fault mode '{name}'"))?);
        rest = tail;
    }
    let args: Vec<(&str, &str)> = rest
        .iter()
        .map(|w| w.split_once('=').ok_or(format!("'{w}' is not key=value")))
        .collect::<Result<_, _>>()?;
    let bad = |k: &str, v: &str| format!("bad {k}={v}");
    match (cmd, mode) {
        ("fault", Some(mode)) => {
            let mut f = Fault {
                mode,
                op: OpFilter::Any,
                skip: 0,
                count: Some(1),
                signature: ALT_SIGNATURE_SWAPPED,
                rearm_skip: 0,
                delay_ms: SLOW_CSW_DEFAULT_MS,
            };
            for &(k, v) in &args {
                match k {
                    "op" => f.op = OpFilter::parse(v).ok_or(bad(k, v))?,
                    "skip" => f.skip = parse_u64(v).ok_or(bad(k, v))?,
                    "count" => f.count = parse_count(v).ok_or(bad(k, v))?,
                    "sig" if mode == Mode::AltSignature => {
                        f.signature = match v {
                            "swapped" => ALT_SIGNATURE_SWAPPED,
                            "olympus" => ALT_SIGNATURE_OLYMPUS,
                            _ => parse_u64(v)
                                .and_then(|s| u32::try_from(s).ok())
                                .ok_or(bad(k, v))?,
                        }
                    }
                    "ms" if mode == Mode::SlowCsw => f.delay_ms = parse_u64(v).ok_or(bad(k, v))?,
                    _ => return Err(format!("unknown argument {k}= for fault {mode}")),
                }
            }
            if mode == Mode::SilentCbw && f.op != OpFilter::Any {
                return Err("silent-cbw acts before the CBW is read: it takes no op=".into());
            }
            if mode == Mode::NotReadyUntilStart && f.count.is_some() {
                // Only a spin-up ends it; a number means once.
                f.count = Some(1);
            }
            f.rearm_skip = f.skip;
            Ok(Control::Fault(f))
        }
        ("random", _) => {
            let (mut seed, mut count, mut op, mut rate) = (None, Some(1), OpFilter::Any, 100);
            for &(k, v) in &args {
                match k {
                    "seed" => seed = Some(parse_u64(v).ok_or(bad(k, v))?),
                    "count" => count = parse_count(v).ok_or(bad(k, v))?,
                    "op" => op = OpFilter::parse(v).ok_or(bad(k, v))?,
                    "rate" => {
                        rate = parse_u8(v)
                            .filter(|r| (1..=100).contains(r))
                            .ok_or(bad(k, v))?
                    }
                    _ => return Err(format!("unknown argument {k}= for random")),
                }
            }
            let seed = seed.ok_or("random needs seed=")?;
            Ok(Control::Random(RandomSpec {
                seed,
                count,
                op,
                rate,
            }))
        }
        ("slow-control", _) => match args.as_slice() {
            [("ms", v)] => parse_u64(v)
                .filter(|&ms| ms <= SLOW_CONTROL_MAX_MS)
                .map(Control::SlowControl)
                .ok_or(bad("ms", v)),
            _ => Err("slow-control takes ms=N".into()),
        },
        ("clear" | "list" | "disconnect" | "mute", _) if !args.is_empty() => {
            Err(format!("{cmd} takes no arguments"))
        }
        ("clear", _) => Ok(Control::Clear),
        ("list", _) => Ok(Control::List),
        ("disconnect", _) => Ok(Control::Disconnect),
        ("mute", _) => Ok(Control::Mute),
        _ => Err(format!("unknown command '{cmd}'")),
    }
}

/// SplitMix64: small, fast, and fully determined by its seed (no dependency
/// whose algorithm could change under us).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Sense bytes that no parser may accept: 18 random bytes whose response code
/// (byte 0, bits 6..0) is outside 0x70..=0x73.
pub fn garbage_sense(rng: &mut Rng) -> Vec<u8> {
    let mut b = rng.bytes(18);
    while (0x70..=0x73).contains(&(b[0] & 0x7f)) {
        b[0] = rng.next_u64() as u8;
    }
    b
}

/// The CSW fields random mode overrides (`None`: the correct value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CswOverride {
    pub signature: Option<u32>,
    pub tag: Option<u32>,
    pub residue: Option<u32>,
    pub status: Option<u8>,
}

/// The fault chosen for one command, with its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub mode: Mode,
    /// alt-signature's signature.
    pub signature: u32,
    /// random-csw.
    pub csw: CswOverride,
    /// random-length: bytes of the data phase to move (at most the CBW's).
    pub length: u32,
    /// garbage-sense and random-sense: the sense data.
    pub sense: Vec<u8>,
    /// slow-csw's pause in milliseconds.
    pub delay_ms: u64,
}

impl Applied {
    pub fn new(mode: Mode) -> Applied {
        Applied {
            mode,
            signature: ALT_SIGNATURE_SWAPPED,
            csw: CswOverride::default(),
            length: 0,
            sense: Vec::new(),
            delay_ms: 0,
        }
    }
}

/// What [`FaultTable::decide`] found for a command, with the lines to log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub applied: Option<Applied>,
    /// `fault done ...`, `random ...` lines.
    pub log: Vec<String>,
}

#[derive(Clone, Debug)]
struct Random {
    spec: RandomSpec,
    rng: Rng,
    left: Option<u64>,
}

/// The armed faults, in arming order.
#[derive(Clone, Debug, Default)]
pub struct FaultTable {
    faults: Vec<Fault>,
    random: Option<Random>,
}

impl FaultTable {
    pub fn arm(&mut self, f: Fault) {
        self.faults.push(f);
    }

    pub fn arm_random(&mut self, spec: RandomSpec) {
        self.random = Some(Random {
            spec,
            rng: Rng::new(spec.seed),
            left: spec.count,
        });
    }

    pub fn clear(&mut self) {
        self.faults.clear();
        self.random = None;
    }

    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self.faults.iter().map(|f| f.to_string()).collect();
        if let Some(r) = &self.random {
            v.push(format!("{} left={}", r.spec, count_str(r.left)));
        }
        v
    }

    /// Before a CBW is read: is a silent-cbw due (armed, nothing left to skip,
    /// no earlier fault in the list still waiting)? Consumes one count.
    pub fn take_silent_cbw(&mut self) -> Option<Vec<String>> {
        let i = self
            .faults
            .iter()
            .position(|f| f.mode == Mode::SilentCbw && f.skip == 0)?;
        Some(self.consume(i))
    }

    fn consume(&mut self, i: usize) -> Vec<String> {
        let f = &mut self.faults[i];
        if let Some(n) = &mut f.count {
            *n -= 1;
            if *n == 0 {
                let mode = f.mode;
                self.faults.remove(i);
                return vec![format!("fault done {mode}")];
            }
        }
        Vec::new()
    }

    /// A START STOP UNIT that spins up (START=1, LOEJ=0) ends every
    /// not-ready-until-start fault that has nothing left to skip (the disk is
    /// spun down): it is done, or with `count=forever` skips its `skip=` again.
    /// Returns the lines to log.
    fn spin_up(&mut self, c: &CmdInfo) -> Vec<String> {
        let mut log = Vec::new();
        if !c.is_start() {
            return log;
        }
        self.faults.retain_mut(|f| {
            if f.mode != Mode::NotReadyUntilStart || f.skip > 0 {
                return true;
            }
            if f.count.is_none() {
                f.skip = f.rearm_skip;
                log.push(format!("fault rearmed {f}"));
                true
            } else {
                log.push(format!("fault done {}", f.mode));
                false
            }
        });
        log
    }

    /// Chooses the fault for a command whose CBW was just read. Every armed
    /// fault that matches the command (op filter and applicability) and still
    /// has commands to skip counts it as skipped; the first matching one with
    /// nothing left to skip acts. Random mode acts when no armed fault does.
    /// A spinning-up START STOP UNIT ends not-ready-until-start faults first
    /// (whatever else acts on it).
    pub fn decide(&mut self, c: &CmdInfo) -> Decision {
        let started = self.spin_up(c);
        let mut d = self.choose(c);
        d.log.splice(0..0, started);
        d
    }

    fn choose(&mut self, c: &CmdInfo) -> Decision {
        let mut chosen = None;
        for (i, f) in self.faults.iter_mut().enumerate() {
            if !f.op.matches(c) || !applicable(f.mode, c, f.op) {
                continue;
            }
            if f.skip > 0 {
                f.skip -= 1;
            } else if chosen.is_none() && f.mode != Mode::SilentCbw {
                chosen = Some(i);
            }
        }
        if let Some(i) = chosen {
            let f = &self.faults[i];
            let mut a = Applied::new(f.mode);
            a.signature = f.signature;
            a.delay_ms = f.delay_ms;
            if a.mode == Mode::GarbageSense {
                a.sense = garbage_sense(&mut Rng::new(0x6a72_6261_6765 ^ c.seq));
            }
            // Only a spin-up ends not-ready-until-start, not the commands it fails.
            let log = if a.mode == Mode::NotReadyUntilStart {
                Vec::new()
            } else {
                self.consume(i)
            };
            return Decision {
                applied: Some(a),
                log,
            };
        }
        self.decide_random(c)
    }

    fn decide_random(&mut self, c: &CmdInfo) -> Decision {
        let Some(r) = &mut self.random else {
            return Decision::default();
        };
        if !r.spec.op.matches(c) {
            return Decision::default();
        }
        let rng = &mut r.rng;
        let mut kinds: Vec<Option<Mode>> = vec![None];
        kinds.extend(
            NAMES
                .iter()
                .map(|(m, _)| *m)
                .filter(|m| m.drawable() && applicable(*m, c, OpFilter::Any))
                .map(Some),
        );
        // With the default rate of 100 there is no extra draw, so a seed gives
        // the same decisions as before `rate=` existed.
        let misbehave = r.spec.rate >= 100 || rng.below(100) < u64::from(r.spec.rate);
        let pick = if misbehave {
            kinds[rng.below(kinds.len() as u64) as usize]
        } else {
            None
        };
        let mut line = format!(
            "random {} seed={} pick={}",
            c.seq,
            r.spec.seed,
            pick.map_or("none", Mode::name)
        );
        let applied = pick.map(|mode| {
            let mut a = Applied::new(mode);
            match mode {
                Mode::AltSignature => {
                    a.signature =
                        [ALT_SIGNATURE_SWAPPED, ALT_SIGNATURE_OLYMPUS][rng.below(2) as usize];
                    line += &format!(" sig=0x{:08x}", a.signature);
                }
                Mode::GarbageSense => a.sense = garbage_sense(rng),
                Mode::RandomSense => {
                    let (k, asc, ascq) = (
                        rng.below(16) as u8,
                        rng.next_u64() as u8,
                        rng.next_u64() as u8,
                    );
                    a.sense = crate::scsi::Sense::new(k, asc, ascq).bytes();
                    line += &format!(" key=0x{k:x} asc=0x{asc:02x} ascq=0x{ascq:02x}");
                }
                Mode::RandomLength => {
                    a.length = rng.below(u64::from(c.len) + 1) as u32;
                    if c.dir == Dir::Out && a.length < c.len {
                        a.length -= a.length % OUT_PACKET;
                    }
                    line += &format!(" bytes={}", a.length);
                }
                Mode::RandomCsw => {
                    let o = &mut a.csw;
                    if rng.coin() {
                        o.signature = Some(match rng.below(4) {
                            0 => ALT_SIGNATURE_SWAPPED,
                            1 => ALT_SIGNATURE_OLYMPUS,
                            2 => BAD_SIGNATURE,
                            _ => rng.next_u64() as u32,
                        });
                    }
                    if rng.coin() {
                        o.tag = Some(rng.next_u64() as u32);
                    }
                    if rng.coin() {
                        o.residue = Some(if rng.coin() {
                            rng.below(u64::from(c.len) + 1) as u32
                        } else {
                            rng.next_u64() as u32
                        });
                    }
                    if rng.coin() {
                        o.status = Some(if rng.coin() {
                            rng.below(4) as u8
                        } else {
                            rng.next_u64() as u8
                        });
                    }
                    let opt = |v: Option<u64>, hex: bool| match v {
                        None => "ok".to_string(),
                        Some(v) if hex => format!("0x{v:08x}"),
                        Some(v) => v.to_string(),
                    };
                    line += &format!(
                        " sig={} tag={} residue={} status={}",
                        opt(o.signature.map(u64::from), true),
                        opt(o.tag.map(u64::from), true),
                        opt(o.residue.map(u64::from), false),
                        opt(o.status.map(u64::from), false)
                    );
                }
                _ => {}
            }
            a
        });
        let mut log = vec![line];
        if let Some(n) = &mut r.left {
            *n -= 1;
            if *n == 0 {
                self.random = None;
                log.push("fault done random".into());
            }
        }
        Decision { applied, log }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(seq: u64, opcode: u8, len: u32, dir: Dir) -> CmdInfo {
        CmdInfo {
            seq,
            opcode,
            byte1: 0,
            byte4: 0,
            len,
            dir,
        }
    }

    fn armed(line: &str) -> Fault {
        match parse_control(line).unwrap() {
            Control::Fault(f) => f,
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn parses_control_lines() {
        assert_eq!(
            armed("fault stall-in op=read skip=2 count=3"),
            Fault {
                mode: Mode::StallIn,
                op: OpFilter::Read,
                skip: 2,
                count: Some(3),
                signature: ALT_SIGNATURE_SWAPPED,
                rearm_skip: 2,
                delay_ms: SLOW_CSW_DEFAULT_MS,
            }
        );
        let f = armed("fault slow-csw op=sync ms=8000");
        assert_eq!(
            (f.mode, f.op, f.delay_ms),
            (Mode::SlowCsw, OpFilter::Sync, 8000)
        );
        assert_eq!(f.to_string(), "slow-csw op=sync skip=0 count=1 ms=8000");
        assert!(parse_control("fault stall-in ms=5").is_err());
        let f = armed("  fault not-ready count=forever op=0x28  # comment");
        assert_eq!((f.count, f.op), (None, OpFilter::Opcode(0x28)));
        assert_eq!(
            armed("fault alt-signature sig=olympus").signature,
            ALT_SIGNATURE_OLYMPUS
        );
        assert_eq!(
            armed("fault alt-signature sig=0x12345678").signature,
            0x1234_5678
        );
        assert_eq!(
            armed("fault capacity-zero").to_string(),
            "capacity-zero op=any skip=0 count=1"
        );
        assert_eq!(
            parse_control("random seed=42 count=10").unwrap(),
            Control::Random(RandomSpec {
                seed: 42,
                count: Some(10),
                op: OpFilter::Any,
                rate: 100
            })
        );
        let Control::Random(r) =
            parse_control("random seed=1 count=forever op=rw rate=20").unwrap()
        else {
            panic!()
        };
        assert_eq!((r.count, r.op, r.rate), (None, OpFilter::ReadWrite, 20));
        assert_eq!(r.to_string(), "random seed=1 count=forever op=rw rate=20");
        assert_eq!(parse_control("clear").unwrap(), Control::Clear);
        assert_eq!(parse_control("disconnect").unwrap(), Control::Disconnect);
        assert_eq!(parse_control("mute").unwrap(), Control::Mute);
        assert_eq!(
            parse_control("slow-control ms=3000").unwrap(),
            Control::SlowControl(3000)
        );
        assert!(parse_control("slow-control").is_err());
        assert!(parse_control("slow-control ms=99999").is_err());
        assert!(parse_control("slow-control ms=1 x=2").is_err());
        assert!(parse_control("mute now").is_err());
        assert_eq!(parse_control("   ").unwrap(), Control::Nothing);
        assert_eq!(parse_control("# x").unwrap(), Control::Nothing);
        for bad in [
            "fault",
            "fault nonsense",
            "fault random-csw",
            "fault stall-in op=bogus",
            "fault stall-in count=0",
            "fault stall-in skip=-1",
            "fault stall-in sig=olympus",
            "fault silent-cbw op=read",
            "fault stall-in extra",
            "random count=3",
            "random seed=1 rate=0",
            "random seed=1 rate=101",
            "random seed=1 op=bogus",
            "clear now",
            "frobnicate",
        ] {
            assert!(parse_control(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn op_filters() {
        let rc16 = CmdInfo {
            seq: 1,
            opcode: 0x9e,
            byte1: 0x10,
            byte4: 0,
            len: 32,
            dir: Dir::In,
        };
        assert!(OpFilter::ReadCap.matches(&rc16));
        assert!(OpFilter::ReadCap.matches(&cmd(1, 0x25, 8, Dir::In)));
        assert!(!OpFilter::ReadCap.matches(&cmd(1, 0x9e, 8, Dir::In)));
        assert!(OpFilter::Read.matches(&cmd(1, 0x88, 8, Dir::In)));
        assert!(OpFilter::Write.matches(&cmd(1, 0x2a, 8, Dir::Out)));
        assert!(OpFilter::Sync.matches(&cmd(1, 0x91, 0, Dir::None)));
        assert!(OpFilter::ModeSense.matches(&cmd(1, 0x1a, 8, Dir::In)));
        assert!(!OpFilter::Tur.matches(&cmd(1, 0x03, 8, Dir::In)));
    }

    #[test]
    fn skip_count_and_done() {
        let mut t = FaultTable::default();
        t.arm(armed("fault stall-in op=read skip=1 count=2"));
        let read = |s| cmd(s, 0x28, 4096, Dir::In);
        // A write neither matches nor counts as skipped.
        assert_eq!(t.decide(&cmd(1, 0x2a, 4096, Dir::Out)), Decision::default());
        assert_eq!(t.decide(&read(2)).applied, None);
        let d = t.decide(&read(3));
        assert_eq!(d.applied.unwrap().mode, Mode::StallIn);
        assert!(d.log.is_empty());
        let d = t.decide(&read(4));
        assert_eq!(d.applied.unwrap().mode, Mode::StallIn);
        assert_eq!(d.log, ["fault done stall-in"]);
        assert_eq!(t.decide(&read(5)), Decision::default());
    }

    #[test]
    fn first_match_wins_and_applicability() {
        let mut t = FaultTable::default();
        t.arm(armed("fault stall-out"));
        t.arm(armed("fault not-ready count=forever"));
        t.arm(armed("fault wrong-tag"));
        // INQUIRY is spared by not-ready (op=any) and not data-out: wrong-tag.
        let d = t.decide(&cmd(1, 0x12, 36, Dir::In));
        assert_eq!(d.applied.unwrap().mode, Mode::WrongTag);
        assert_eq!(d.log, ["fault done wrong-tag"]);
        // A read: stall-out does not apply, not-ready does.
        let d = t.decide(&cmd(2, 0x28, 512, Dir::In));
        assert_eq!(d.applied.unwrap().mode, Mode::NotReady);
        // A write: stall-out first.
        let d = t.decide(&cmd(3, 0x2a, 512, Dir::Out));
        assert_eq!(d.applied.unwrap().mode, Mode::StallOut);
        for s in 4..20 {
            let d = t.decide(&cmd(s, 0x00, 0, Dir::None));
            assert_eq!(d.applied.unwrap().mode, Mode::NotReady);
        }
        t.clear();
        assert_eq!(t.decide(&cmd(30, 0x00, 0, Dir::None)), Decision::default());
        // Explicit op: not-ready hits INQUIRY too; capacity faults only READ CAPACITY.
        t.arm(armed("fault not-ready op=inquiry"));
        t.arm(armed("fault capacity-bs1"));
        assert_eq!(
            t.decide(&cmd(31, 0x12, 36, Dir::In)).applied.unwrap().mode,
            Mode::NotReady
        );
        assert_eq!(t.decide(&cmd(32, 0x00, 0, Dir::None)), Decision::default());
        assert_eq!(
            t.decide(&cmd(33, 0x25, 8, Dir::In)).applied.unwrap().mode,
            Mode::CapacityBs1
        );
    }

    #[test]
    fn silent_cbw_is_taken_before_the_read() {
        let mut t = FaultTable::default();
        t.arm(armed("fault silent-cbw skip=1"));
        assert_eq!(t.take_silent_cbw(), None);
        assert_eq!(t.decide(&cmd(1, 0, 0, Dir::None)), Decision::default());
        assert_eq!(
            t.take_silent_cbw(),
            Some(vec!["fault done silent-cbw".into()])
        );
        assert_eq!(t.take_silent_cbw(), None);
    }

    #[test]
    fn new_modes_applicability() {
        let read = cmd(1, 0x28, 4096, Dir::In);
        let read16 = cmd(1, 0x88, 4096, Dir::In);
        let write = cmd(1, 0x2a, 4096, Dir::Out);
        let tur = cmd(1, 0x00, 0, Dir::None);
        let inq = cmd(1, 0x12, 36, Dir::In);
        let sense = cmd(1, 0x03, 18, Dir::In);
        let start = cmd(1, 0x1b, 0, Dir::None);
        let any = OpFilter::Any;
        // recovered-error: READ/WRITE with op=any, anything with an explicit op.
        assert!(applicable(Mode::RecoveredError, &read, any));
        assert!(applicable(Mode::RecoveredError, &write, any));
        assert!(!applicable(Mode::RecoveredError, &tur, any));
        assert!(applicable(Mode::RecoveredError, &tur, OpFilter::Tur));
        // early-answer: data-in READs only, whatever the op.
        assert!(applicable(Mode::EarlyAnswer, &read, any));
        assert!(applicable(Mode::EarlyAnswer, &read16, OpFilter::Read));
        assert!(!applicable(Mode::EarlyAnswer, &write, any));
        assert!(!applicable(Mode::EarlyAnswer, &inq, OpFilter::Inquiry));
        assert!(!applicable(
            Mode::EarlyAnswer,
            &cmd(1, 0x28, 0, Dir::None),
            any
        ));
        // not-ready-until-start: never START STOP UNIT; INQUIRY and REQUEST
        // SENSE spared with op=any only.
        for c in [&read, &write, &tur] {
            assert!(applicable(Mode::NotReadyUntilStart, c, any));
        }
        for c in [&inq, &sense, &start] {
            assert!(!applicable(Mode::NotReadyUntilStart, c, any));
        }
        assert!(applicable(
            Mode::NotReadyUntilStart,
            &inq,
            OpFilter::Inquiry
        ));
        assert!(!applicable(
            Mode::NotReadyUntilStart,
            &start,
            OpFilter::Opcode(0x1b)
        ));
        // Random mode draws none of them.
        for m in [
            Mode::RecoveredError,
            Mode::EarlyAnswer,
            Mode::NotReadyUntilStart,
        ] {
            assert!(!m.drawable(), "{m}");
            assert_eq!(Mode::parse(m.name()), Some(m));
        }
    }

    fn start_stop(seq: u64, byte4: u8) -> CmdInfo {
        CmdInfo {
            byte4,
            ..cmd(seq, 0x1b, 0, Dir::None)
        }
    }

    #[test]
    fn not_ready_until_start_ends_with_a_spin_up() {
        let mut t = FaultTable::default();
        let f = armed("fault not-ready-until-start count=5");
        assert_eq!(f.count, Some(1), "count is ignored");
        t.arm(f);
        for s in 1..=10 {
            let d = t.decide(&cmd(s, 0x00, 0, Dir::None));
            assert_eq!(d.applied.unwrap().mode, Mode::NotReadyUntilStart);
            assert!(d.log.is_empty());
        }
        assert_eq!(t.decide(&cmd(11, 0x12, 36, Dir::In)), Decision::default());
        // STOP, and START with LOEJ (load): no spin-up; not failed either.
        for b in [0x00, 0x02, 0x03] {
            assert_eq!(t.decide(&start_stop(12, b)), Decision::default());
        }
        assert!(t.decide(&cmd(13, 0x28, 512, Dir::In)).applied.is_some());
        let d = t.decide(&start_stop(14, 0x01));
        assert_eq!(d.applied, None);
        assert_eq!(d.log, ["fault done not-ready-until-start"]);
        assert_eq!(t.decide(&cmd(15, 0x00, 0, Dir::None)), Decision::default());
    }

    #[test]
    fn not_ready_until_start_forever_spins_down_again_after_skip() {
        let mut t = FaultTable::default();
        t.arm(armed("fault not-ready-until-start skip=2 count=forever"));
        let tur = |s| cmd(s, 0x00, 0, Dir::None);
        // Still spinning: a START changes nothing, two commands pass.
        assert_eq!(t.decide(&start_stop(1, 0x01)), Decision::default());
        assert_eq!(t.decide(&tur(2)), Decision::default());
        assert_eq!(t.decide(&tur(3)), Decision::default());
        for round in 0..3 {
            let s = 10 * (round + 1);
            assert!(t.decide(&tur(s)).applied.is_some());
            assert!(t.decide(&tur(s + 1)).applied.is_some());
            let d = t.decide(&start_stop(s + 2, 0x01));
            assert_eq!(
                d.log,
                ["fault rearmed not-ready-until-start op=any skip=2 count=forever"]
            );
            assert_eq!(t.decide(&tur(s + 3)), Decision::default());
            assert_eq!(t.decide(&tur(s + 4)), Decision::default());
        }
    }

    #[test]
    fn garbage_sense_is_never_valid() {
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            let s = garbage_sense(&mut r);
            assert_eq!(s.len(), 18);
            assert!(scsi::sense::Sense::parse(&s).is_err());
        }
    }

    fn random_run(seed: u64) -> Vec<(Option<Applied>, Vec<String>)> {
        let mut t = FaultTable::default();
        t.arm_random(RandomSpec {
            seed,
            count: Some(200),
            op: OpFilter::Any,
            rate: 100,
        });
        (1..=210)
            .map(|s| {
                let c = match s % 4 {
                    0 => cmd(s, 0x28, 65536, Dir::In),
                    1 => cmd(s, 0x2a, 4096, Dir::Out),
                    2 => cmd(s, 0x00, 0, Dir::None),
                    _ => cmd(s, 0x03, 18, Dir::In),
                };
                let d = t.decide(&c);
                (d.applied, d.log)
            })
            .collect()
    }

    #[test]
    fn random_op_filter_and_rate() {
        let mut t = FaultTable::default();
        t.arm_random(RandomSpec {
            seed: 3,
            count: Some(1000),
            op: OpFilter::ReadWrite,
            rate: 10,
        });
        // Commands outside the filter neither draw nor count.
        for s in 1..=50 {
            assert_eq!(t.decide(&cmd(s, 0x00, 0, Dir::None)), Decision::default());
        }
        let faulted = (1..=1000)
            .filter(|&s| {
                let d = t.decide(&cmd(100 + s, 0x28, 4096, Dir::In));
                assert_eq!(d.log.len(), 1 + usize::from(s == 1000));
                d.applied.is_some()
            })
            .count();
        assert!((50..=150).contains(&faulted), "{faulted}");
        assert_eq!(
            t.decide(&cmd(2000, 0x28, 4096, Dir::In)),
            Decision::default()
        );
    }

    #[test]
    fn random_is_reproducible_from_the_seed() {
        let a = random_run(1234);
        assert_eq!(a, random_run(1234));
        assert_ne!(a, random_run(1235));
        // The known first values of SplitMix64 (seed 1234) pin the algorithm.
        let mut r = Rng::new(1234);
        let first = r.next_u64();
        assert_eq!(Rng::new(1234).next_u64(), first);
        // Every command is logged with the seed; random stops after its count.
        assert!(a[0].1[0].starts_with("random 1 seed=1234 pick="));
        assert_eq!(a[199].1.last().unwrap(), "fault done random");
        assert!(a[200..].iter().all(|(x, l)| x.is_none() && l.is_empty()));
        // Over 200 draws most kinds show up, and only applicable ones.
        let picked: std::collections::HashSet<Mode> = a
            .iter()
            .filter_map(|(x, _)| x.as_ref().map(|a| a.mode))
            .collect();
        assert!(picked.len() > 15, "{picked:?}");
        assert!(!picked.contains(&Mode::DisconnectData));
        assert!(!picked.contains(&Mode::SilentCbw));
        for (s, (x, _)) in a.iter().enumerate() {
            let seq = s as u64 + 1;
            if let Some(x) = x {
                if seq % 4 == 2 {
                    assert!(!matches!(
                        x.mode,
                        Mode::StallIn | Mode::StallOut | Mode::RandomLength
                    ));
                }
                if seq % 4 == 3 {
                    assert!(!matches!(x.mode, Mode::NotReady | Mode::RandomSense));
                }
                if x.mode == Mode::RandomLength {
                    assert!(x.length <= if seq.is_multiple_of(4) { 65536 } else { 4096 });
                    if seq % 4 == 1 {
                        assert!(x.length.is_multiple_of(OUT_PACKET), "{}", x.length);
                    }
                }
            }
        }
    }
}
