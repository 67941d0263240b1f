//! ub-bot-device: a USB mass-storage Bulk-Only Transport device emulated on
//! raw-gadget (dummy_hcd in the test guest) that serves a RAM disk and misbehaves
//! on command, for the ub kselftests. See README.md.

mod ata;
mod bot;
mod cli;
mod disk;
mod fault;
mod gadget;
mod log;
mod rawgadget;
mod scsi;
mod usb;

use std::ffi::CString;
use std::os::unix::fs::FileTypeExt;
use std::sync::{Arc, Mutex};

fn fail(log: Option<&log::Logger>, msg: &str) -> ! {
    if let Some(l) = log {
        l.line(&format!("error {msg}"));
    }
    eprintln!("ub-bot-device: {msg}");
    std::process::exit(1)
}

/// Creates the control FIFO (or reuses one) and opens it read-write.
fn open_fifo(path: &str) -> std::io::Result<std::fs::File> {
    let c = CString::new(path).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o666) } != 0 {
        let e = std::io::Error::last_os_error();
        let is_fifo = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo());
        if e.raw_os_error() != Some(libc::EEXIST) || !is_fifo {
            return Err(e);
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
}

/// Blocks SIGTERM and SIGINT in this thread and the threads it starts; the main
/// thread takes them with sigwait.
fn block_exit_signals() -> libc::sigset_t {
    // SAFETY: plain signal-set calls on an initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn main() {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(None) => {
            print!("{}", cli::USAGE);
            return;
        }
        Err(Some(msg)) => {
            eprint!("ub-bot-device: {msg}\n\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    let log = Arc::new(
        log::Logger::open(&opts.log).unwrap_or_else(|e| fail(None, &format!("{}: {e}", opts.log))),
    );
    let signals = block_exit_signals();
    if let Err(e) = gadget::install_kick_handler() {
        fail(Some(&log), &format!("sigaction: {e}"));
    }
    let fifo = open_fifo(&opts.control)
        .unwrap_or_else(|e| fail(Some(&log), &format!("control FIFO {}: {e}", opts.control)));

    let mut disk = disk::RamDisk::new(opts.blocks, opts.block_size);
    if opts.volatile_cache {
        disk = disk.with_volatile_cache();
    }
    let target = scsi::Target::new(
        scsi::TargetConfig {
            vendor: opts.vendor.clone(),
            product: opts.product.clone(),
            revision: "1.00".into(),
            serial: opts
                .vpd_serial
                .clone()
                .unwrap_or_else(|| opts.serial.clone()),
            removable: opts.removable,
            write_cache: opts.write_cache,
            write_protect: opts.write_protect,
            dpofua: opts.dpofua,
            bad_blocks: opts.bad_blocks.clone(),
            capacity_plus_one: opts.capacity_plus_one,
        },
        disk,
    );
    let faults = Arc::new(Mutex::new(fault::FaultTable::default()));
    let mut engine = bot::Engine::new(target, faults.clone(), log.clone());
    engine.cbw32 = opts.cbw32;
    engine.volatile_cache = opts.volatile_cache;
    let identity = usb::Identity {
        vid: opts.vid,
        pid: opts.pid,
        manufacturer: opts.vendor.clone(),
        product: opts.product.clone(),
        serial: opts.serial.clone(),
    };

    let raw = rawgadget::RawGadget::open(&opts.raw_gadget)
        .unwrap_or_else(|e| fail(Some(&log), &format!("{}: {e}", opts.raw_gadget)));
    raw.init(
        &opts.udc_driver,
        &opts.udc_device,
        rawgadget::USB_SPEED_HIGH,
    )
    .unwrap_or_else(|e| fail(Some(&log), &format!("USB_RAW_IOCTL_INIT: {e}")));
    let shared = Arc::new(gadget::Shared::new(
        raw,
        log.clone(),
        faults,
        identity,
        opts.no_bulk_reset,
    ));

    log.line(&format!(
        "start pid={} blocks={} block-size={} serial={} udc={}",
        std::process::id(),
        opts.blocks,
        opts.block_size,
        opts.serial,
        opts.udc_device
    ));
    // Faults from the command line are armed before the device connects.
    for line in &opts.arm {
        shared.control(line);
    }

    let sh = shared.clone();
    std::thread::Builder::new()
        .name("bulk".into())
        .spawn(move || sh.bulk_loop(engine))
        .unwrap_or_else(|e| fail(Some(&log), &format!("spawn: {e}")));
    let sh = shared.clone();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || sh.control_loop(fifo))
        .unwrap_or_else(|e| fail(Some(&log), &format!("spawn: {e}")));
    // EVENT_FETCH fails until the gadget runs: connect first, then serve ep0.
    shared
        .run()
        .unwrap_or_else(|e| fail(Some(&log), &format!("USB_RAW_IOCTL_RUN: {e}")));
    let sh = shared.clone();
    std::thread::Builder::new()
        .name("ep0".into())
        .spawn(move || sh.ep0_loop())
        .unwrap_or_else(|e| fail(Some(&log), &format!("spawn: {e}")));

    let mut sig: libc::c_int = 0;
    // SAFETY: `signals` is the initialised set blocked above.
    unsafe { libc::sigwait(&signals, &mut sig) };
    let name = if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    gadget::disconnect(&log, name);
}
