//! Command line.

pub const USAGE: &str = "\
usage: ub-bot-device --blocks N --control PATH --log PATH [options]

A USB mass-storage (Bulk-Only Transport) RAM disk on raw-gadget that misbehaves
on command. Runs until SIGTERM/SIGINT or a `disconnect` on the control FIFO.

  --blocks N              disk size in logical blocks (required)
  --block-size N          512 (default), 1024, 2048 or 4096
  --vid ID --pid ID       USB vendor/product id (default 0x1d6b 0x0104)
  --serial S              iSerialNumber and unit serial VPD (default UBFAULT0)
  --vpd-serial S          the unit serial VPD page (0x80) only, when it is to
                          differ from iSerialNumber
  --vendor S              INQUIRY vendor and iManufacturer (default UBTEST)
  --product S             INQUIRY product and iProduct (default \"BOT FAULTS\")
  --udc-driver NAME       UDC driver (default dummy_udc)
  --udc-device NAME       UDC instance (default dummy_udc.0)
  --control PATH          control FIFO to create (required)
  --log PATH              event log to append to (required)
  --write-cache on|off    WCE in the caching mode page (default on)
  --removable             set RMB in INQUIRY
  --write-protect         the medium is write-protected (WP in MODE SENSE,
                          writes fail with DATA PROTECT 27/00)
  --dpofua                DPOFUA in MODE SENSE: the device claims FUA
  --capacity-plus-one     READ CAPACITY reports one block more than the disk
                          has; that block is out of range (ILLEGAL REQUEST
                          21/00), as usb-storage's FIX_CAPACITY devices
  --bad-block LBA         a block that cannot be read or written (repeatable):
                          READ/WRITE move the blocks before it, then fail
                          with MEDIUM ERROR, INFORMATION = LBA
  --cbw32                 take only 32-byte CBWs (31 bytes and a zero), as
                          devices with usb-storage's BULK32 flag; a 31-byte
                          CBW is invalid (both pipes stall)
  --volatile-cache        writes stay in a volatile cache until SYNCHRONIZE
                          CACHE; a suspend cuts the power and loses it
  --no-bulk-reset         stall the Bulk-Only Mass Storage Reset request (as
                          devices that do not implement it do); a port reset
                          still resets the device
  --raw-gadget PATH       raw-gadget device (default /dev/raw-gadget)
  --arm LINE              a control line carried out before the device
                          connects (repeatable), e.g. --arm 'fault capacity-zero'

Control lines: fault MODE [op=..] [skip=N] [count=N|forever], random seed=S
[count=N|forever] [op=..] [rate=P], clear, list, disconnect. See README.md.
";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub blocks: u64,
    pub block_size: u32,
    pub vid: u16,
    pub pid: u16,
    pub serial: String,
    /// The unit serial number VPD page's, if not `serial`.
    pub vpd_serial: Option<String>,
    pub vendor: String,
    pub product: String,
    pub udc_driver: String,
    pub udc_device: String,
    pub control: String,
    pub log: String,
    pub write_cache: bool,
    pub removable: bool,
    pub write_protect: bool,
    /// DPOFUA in MODE SENSE.
    pub dpofua: bool,
    pub bad_blocks: Vec<u64>,
    /// READ CAPACITY reports one block too many.
    pub capacity_plus_one: bool,
    pub cbw32: bool,
    /// Writes stay in a volatile cache until SYNCHRONIZE CACHE; a suspend loses it.
    pub volatile_cache: bool,
    /// Stall the Bulk-Only Mass Storage Reset request instead of carrying it out.
    pub no_bulk_reset: bool,
    pub raw_gadget: String,
    /// Control lines (`--arm`) carried out before the device connects.
    pub arm: Vec<String>,
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses the arguments (without the program name). `Err(None)` asks for the
/// usage text, `Err(Some(msg))` is an error.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, Option<String>> {
    let mut o = Options {
        blocks: 0,
        block_size: 512,
        vid: 0x1d6b,
        pid: 0x0104,
        serial: "UBFAULT0".into(),
        vpd_serial: None,
        vendor: "UBTEST".into(),
        product: "BOT FAULTS".into(),
        udc_driver: "dummy_udc".into(),
        udc_device: "dummy_udc.0".into(),
        control: String::new(),
        log: String::new(),
        write_cache: true,
        removable: false,
        no_bulk_reset: false,
        write_protect: false,
        dpofua: false,
        bad_blocks: Vec::new(),
        capacity_plus_one: false,
        cbw32: false,
        volatile_cache: false,
        raw_gadget: "/dev/raw-gadget".into(),
        arm: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if name == "--help" || name == "-h" {
            return Err(None);
        }
        if name == "--removable" {
            o.removable = true;
            continue;
        }
        if name == "--write-protect" {
            o.write_protect = true;
            continue;
        }
        if name == "--capacity-plus-one" {
            o.capacity_plus_one = true;
            continue;
        }
        if name == "--dpofua" {
            o.dpofua = true;
            continue;
        }
        if name == "--cbw32" {
            o.cbw32 = true;
            continue;
        }
        if name == "--volatile-cache" {
            o.volatile_cache = true;
            continue;
        }
        if name == "--no-bulk-reset" {
            o.no_bulk_reset = true;
            continue;
        }
        let value = match inline.or_else(|| it.next()) {
            Some(v) => v,
            None => return Err(Some(format!("{name} needs a value"))),
        };
        let bad = || Some(format!("bad value for {name}: {value}"));
        let id = |v: &str| number(v).and_then(|n| u16::try_from(n).ok());
        match name.as_str() {
            "--blocks" => o.blocks = number(&value).filter(|&n| n > 0).ok_or_else(bad)?,
            "--block-size" => {
                o.block_size = number(&value)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| [512, 1024, 2048, 4096].contains(n))
                    .ok_or_else(bad)?
            }
            "--vid" => o.vid = id(&value).ok_or_else(bad)?,
            "--pid" => o.pid = id(&value).ok_or_else(bad)?,
            "--serial" => o.serial = value,
            "--vpd-serial" => o.vpd_serial = Some(value),
            "--vendor" => o.vendor = value,
            "--product" => o.product = value,
            "--udc-driver" => o.udc_driver = value,
            "--udc-device" => o.udc_device = value,
            "--control" => o.control = value,
            "--log" => o.log = value,
            "--raw-gadget" => o.raw_gadget = value,
            "--arm" => o.arm.push(value),
            "--bad-block" => o.bad_blocks.push(number(&value).ok_or_else(bad)?),
            "--write-cache" => {
                o.write_cache = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(bad()),
                }
            }
            _ => return Err(Some(format!("unknown option {name}"))),
        }
    }
    if o.blocks == 0 {
        return Err(Some("--blocks is required".into()));
    }
    if o.control.is_empty() || o.log.is_empty() {
        return Err(Some("--control and --log are required".into()));
    }
    if o.blocks.checked_mul(u64::from(o.block_size)).is_none() {
        return Err(Some("the disk is larger than 2^64 bytes".into()));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Result<Options, Option<String>> {
        parse(s.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_options() {
        let o = p(&[
            "--blocks",
            "131072",
            "--control",
            "/tmp/c",
            "--log",
            "/tmp/l",
        ])
        .unwrap();
        assert_eq!(
            (o.blocks, o.block_size, o.vid, o.pid),
            (131072, 512, 0x1d6b, 0x0104)
        );
        assert_eq!(
            (o.serial.as_str(), o.product.as_str()),
            ("UBFAULT0", "BOT FAULTS")
        );
        assert_eq!(o.vpd_serial, None);
        assert!(o.write_cache && !o.removable && !o.no_bulk_reset && !o.write_protect && !o.dpofua);
        let o = p(&[
            "--blocks=0x200000000",
            "--block-size",
            "4096",
            "--vid",
            "0x1234",
            "--pid=42",
            "--product",
            "X Y",
            "--write-cache",
            "off",
            "--removable",
            "--no-bulk-reset",
            "--write-protect",
            "--dpofua",
            "--control",
            "c",
            "--log",
            "l",
            "--udc-device",
            "dummy_udc.1",
            "--arm",
            "fault capacity-zero",
            "--arm=clear",
            "--vpd-serial",
            "VPD0001",
        ])
        .unwrap();
        assert_eq!(
            (o.blocks, o.block_size, o.vid, o.pid),
            (1 << 33, 4096, 0x1234, 42)
        );
        assert_eq!(o.product, "X Y");
        assert_eq!(o.vpd_serial.as_deref(), Some("VPD0001"));
        assert_eq!(o.udc_device, "dummy_udc.1");
        assert_eq!(o.arm, ["fault capacity-zero", "clear"]);
        assert!(!o.write_cache && o.removable && o.no_bulk_reset && o.write_protect && o.dpofua);
    }

    #[test]
    fn errors() {
        assert_eq!(p(&["--help"]), Err(None));
        for bad in [
            &["--control", "c", "--log", "l"][..],
            &["--blocks", "0", "--control", "c", "--log", "l"],
            &["--blocks", "8", "--log", "l"],
            &[
                "--blocks",
                "8",
                "--control",
                "c",
                "--log",
                "l",
                "--block-size",
                "520",
            ],
            &[
                "--blocks",
                "8",
                "--control",
                "c",
                "--log",
                "l",
                "--vid",
                "0x10000",
            ],
            &[
                "--blocks",
                "8",
                "--control",
                "c",
                "--log",
                "l",
                "--write-cache",
                "yes",
            ],
            &[
                "--blocks",
                "8",
                "--control",
                "c",
                "--log",
                "l",
                "--bogus",
                "1",
            ],
            &["--blocks", "8", "--control", "c", "--log"],
            &[
                "--blocks",
                "0xffffffffffffffff",
                "--control",
                "c",
                "--log",
                "l",
            ],
        ] {
            assert!(matches!(p(bad), Err(Some(_))), "{bad:?}");
        }
    }
}
