// SPDX-License-Identifier: GPL-2.0

//! The USB layer the kernel crate does not have yet: a driver registration of our own
//! and typed access to an interface, its device and its endpoints.
//!
//! `kernel::usb::Driver` offers only `probe` and `disconnect` and keeps the raw
//! interface private; `ub` needs the interface's endpoints now and reset and power
//! callbacks later. This file is the only place the driver touches `struct usb_driver`,
//! `struct usb_interface` and `struct usb_device` directly; everything above it is safe
//! code. It reuses the kernel crate's generic driver registration
//! ([`kernel::driver::Registration`]) and device IDs ([`kernel::usb::DeviceId`]).

use core::{marker::PhantomData, mem::offset_of, ptr::NonNull};
use kernel::{
    bindings, device,
    driver::{DriverLayout, RegistrationOps},
    error::{from_result, to_result},
    ffi,
    prelude::*,
    sync::Arc,
    types::Opaque,
    ThisModule,
};

use crate::{
    counters::{Counters, COUNTERS},
    knobs::{Knobs, KNOBS},
    usbcore_sg::{DmaBuf, TransferError},
};

/// A USB interface driver registered through [`Adapter`].
pub(crate) trait Driver {
    /// Per-interface data, created by [`Driver::probe`] and dropped after
    /// [`Driver::disconnect`].
    type Data: Send;

    /// The interfaces this driver binds.
    const ID_TABLE: kernel::usb::IdTable<()>;

    /// Binds `intf`; an error leaves it unbound.
    fn probe(intf: &Interface) -> impl PinInit<Self::Data, Error> + '_;

    /// `intf` is going away (unplug, `unbind` in sysfs, module removal).
    fn disconnect(intf: &Interface, data: Pin<&Self::Data>);

    /// The device is about to be reset (by this driver or anyone else): stop
    /// using it. Without these two callbacks the USB core would unbind the driver
    /// around every reset, which deadlocks when the driver itself asked for it.
    fn pre_reset(data: Pin<&Self::Data>);

    /// The reset is over: the device is at its default state again.
    fn post_reset(data: Pin<&Self::Data>);

    /// The device is about to be suspended: by system sleep, or at run time
    /// (`auto`) when the interface's PM usage count has dropped to zero. A
    /// runtime suspend may be refused with `EBUSY`.
    fn suspend(data: Pin<&Self::Data>, auto: bool) -> Result;

    /// The device resumed with its state kept.
    fn resume(data: Pin<&Self::Data>);

    /// The device resumed but was reset meanwhile (it lost power, or its quirks
    /// ask for it): its state is the default state.
    fn reset_resume(data: Pin<&Self::Data>);
}

/// Registers a [`Driver`] with the USB core; used with [`kernel::module_driver!`].
pub(crate) struct Adapter<T>(PhantomData<T>);

// SAFETY:
// - `bindings::usb_driver` is a C type, hence `repr(C)`.
// - `DriverData` is the type `probe_callback` stores with `set_drvdata`.
// - `DEVICE_DRIVER_OFFSET` is computed from the embedded `struct device_driver` field.
unsafe impl<T: Driver + 'static> DriverLayout for Adapter<T> {
    type DriverType = bindings::usb_driver;
    type DriverData<'bound> = T::Data;
    const DEVICE_DRIVER_OFFSET: usize = offset_of!(bindings::usb_driver, driver);
}

// SAFETY: `unregister` undoes `register` and is only called after it succeeded.
unsafe impl<T: Driver + 'static> RegistrationOps for Adapter<T> {
    unsafe fn register(
        udrv: &Opaque<Self::DriverType>,
        name: &'static CStr,
        module: &'static ThisModule,
    ) -> Result {
        let drv = udrv.get();
        // SAFETY: `drv` points to a default-initialised `usb_driver` not yet registered,
        // so nothing else reads these fields while they are written.
        unsafe {
            (*drv).name = name.as_char_ptr();
            (*drv).probe = Some(Self::probe_callback);
            (*drv).disconnect = Some(Self::disconnect_callback);
            (*drv).pre_reset = Some(Self::pre_reset_callback);
            (*drv).post_reset = Some(Self::post_reset_callback);
            (*drv).suspend = Some(Self::suspend_callback);
            (*drv).resume = Some(Self::resume_callback);
            (*drv).reset_resume = Some(Self::reset_resume_callback);
            // The driver takes a PM reference while it uses the device
            // (`Interface::autopm_get`): the USB core may suspend it otherwise.
            (*drv).set_supports_autosuspend(1);
            (*drv).id_table = T::ID_TABLE.as_ptr();
            // The identification attributes that `Interface::set_ident` fills,
            // the counters `Interface::publish_counters` and the timeouts
            // `Interface::publish_knobs` hand over.
            (*drv).dev_groups = crate::ffi::ub_intf_attr_groups();
        }
        // SAFETY: Only reads the length of a static table.
        if unsafe { crate::ffi::ub_stats_count() } as usize != COUNTERS {
            pr_err!("counter names and counters do not match (build error)\n");
            return Err(EINVAL);
        }
        // SAFETY: Only reads the length of a static table.
        if unsafe { crate::ffi::ub_knobs_count() } as usize != KNOBS {
            pr_err!("timeout names and knobs do not match (build error)\n");
            return Err(EINVAL);
        }
        // SAFETY: `drv` is valid and, by this function's contract, stays pinned until
        // `unregister`.
        to_result(unsafe {
            bindings::usb_register_driver(drv, module.as_ptr(), name.as_char_ptr())
        })
    }

    unsafe fn unregister(udrv: &Opaque<Self::DriverType>) {
        // SAFETY: By this function's contract `udrv` was registered.
        unsafe { bindings::usb_deregister(udrv.get()) };
    }
}

impl<T: Driver + 'static> Adapter<T> {
    /// Returns the driver-core view of `intf` in the bus-internal context, in which the
    /// driver data may be set and borrowed.
    ///
    /// # Safety
    ///
    /// `intf` must be valid for `'a`, and the caller must be a USB core callback of
    /// this driver for it.
    unsafe fn core_device<'a>(
        intf: *mut bindings::usb_interface,
    ) -> &'a device::Device<device::CoreInternal<'a>> {
        // SAFETY: `intf` is valid, so is its embedded `dev`. `device::Device<Ctx>` is a
        // transparent wrapper of `struct device`; the caller runs in a bus callback,
        // which is what the `CoreInternal` context stands for.
        unsafe { &*(&raw mut (*intf).dev).cast::<device::Device<device::CoreInternal<'a>>>() }
    }

    extern "C" fn probe_callback(
        intf: *mut bindings::usb_interface,
        _id: *const bindings::usb_device_id,
    ) -> ffi::c_int {
        // SAFETY: The USB core calls probe with a valid interface that stays valid and
        // bound to us for the duration of the call.
        let iface = unsafe { Interface::from_raw(intf) };
        from_result(|| {
            let data = T::probe(iface);
            // SAFETY: As above; this is our probe callback.
            let dev = unsafe { Self::core_device(intf) };
            dev.set_drvdata(data)?;
            Ok(0)
        })
    }

    extern "C" fn disconnect_callback(intf: *mut bindings::usb_interface) {
        // SAFETY: The USB core calls disconnect with a valid interface.
        let iface = unsafe { Interface::from_raw(intf) };
        // SAFETY: As above; this is our disconnect callback.
        let dev = unsafe { Self::core_device(intf) };
        // SAFETY: Disconnect only follows a successful probe, which stored a
        // `T::Data` with `set_drvdata`; the registration drops it after this returns.
        let data = unsafe { dev.drvdata_borrow::<T::Data>() };
        T::disconnect(iface, data);
    }

    /// The driver data of `intf`, or `None` while its probe has not stored it yet.
    ///
    /// # Safety
    ///
    /// `intf` must be bound to this driver and the caller a USB core callback for
    /// it other than probe and disconnect (which do not run concurrently with it).
    unsafe fn bound_data<'a>(intf: *mut bindings::usb_interface) -> Option<Pin<&'a T::Data>> {
        // SAFETY: As required of the caller, `intf` and its embedded `dev` are valid.
        if unsafe { bindings::dev_get_drvdata(&raw mut (*intf).dev) }.is_null() {
            return None;
        }
        // SAFETY: As required of the caller.
        let dev = unsafe { Self::core_device(intf) };
        // SAFETY: Non-NULL driver data of an interface bound to us is the `T::Data`
        // probe stored with `set_drvdata`; it is not dropped before disconnect, which
        // the USB core does not run concurrently with this callback.
        Some(unsafe { dev.drvdata_borrow::<T::Data>() })
    }

    extern "C" fn pre_reset_callback(intf: *mut bindings::usb_interface) -> ffi::c_int {
        // A reset while the probe has not finished is the probe's own (it holds the
        // device lock): there is nothing to stop yet.
        // SAFETY: The USB core calls pre_reset with a valid interface bound to us.
        if let Some(data) = unsafe { Self::bound_data(intf) } {
            T::pre_reset(data);
        }
        0
    }

    extern "C" fn post_reset_callback(intf: *mut bindings::usb_interface) -> ffi::c_int {
        // SAFETY: As in `pre_reset_callback`.
        if let Some(data) = unsafe { Self::bound_data(intf) } {
            T::post_reset(data);
        }
        0
    }

    extern "C" fn suspend_callback(
        intf: *mut bindings::usb_interface,
        message: bindings::pm_message_t,
    ) -> ffi::c_int {
        let auto = message.event as u32 & bindings::PM_EVENT_AUTO != 0;
        // SAFETY: The USB core calls suspend with a valid interface bound to us, not
        // concurrently with probe or disconnect (it holds the device lock).
        match unsafe { Self::bound_data(intf) } {
            Some(data) => from_result(|| T::suspend(data, auto).map(|()| 0)),
            None => 0,
        }
    }

    extern "C" fn resume_callback(intf: *mut bindings::usb_interface) -> ffi::c_int {
        // SAFETY: As in `suspend_callback`.
        if let Some(data) = unsafe { Self::bound_data(intf) } {
            T::resume(data);
        }
        0
    }

    extern "C" fn reset_resume_callback(intf: *mut bindings::usb_interface) -> ffi::c_int {
        // SAFETY: As in `suspend_callback`.
        if let Some(data) = unsafe { Self::bound_data(intf) } {
            T::reset_resume(data);
        }
        0
    }
}

/// A USB interface, as seen from a callback of the driver bound to it.
///
/// # Invariants
///
/// `self.0` is a valid `struct usb_interface` for as long as the reference exists.
#[repr(transparent)]
pub(crate) struct Interface(Opaque<bindings::usb_interface>);

impl Interface {
    /// # Safety
    ///
    /// `ptr` must point to a `struct usb_interface` that stays valid for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::usb_interface) -> &'a Self {
        // SAFETY: `Interface` is a transparent wrapper; validity is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    fn as_raw(&self) -> *mut bindings::usb_interface {
        self.0.get()
    }

    /// The interface's `struct device`, as parent for what the driver registers
    /// below it (the disks).
    pub(crate) fn raw_device(&self) -> *mut bindings::device {
        // SAFETY: The interface is valid (type invariant).
        unsafe { &raw mut (*self.as_raw()).dev }
    }

    /// `bInterfaceNumber` of the current alternate setting.
    pub(crate) fn number(&self) -> u8 {
        // SAFETY: The interface is valid and has a current alternate setting.
        unsafe { (*(*self.as_raw()).cur_altsetting).desc.bInterfaceNumber }
    }

    /// A counted reference to the interface's USB device, usable after the
    /// callback returns.
    pub(crate) fn get_usb_device(&self) -> UsbDeviceRef {
        self.usb_device().get_ref()
    }

    /// A counted reference to the interface, usable after the callback returns
    /// (to reset the device from the worker).
    pub(crate) fn get_ref(&self) -> InterfaceRef {
        // SAFETY: The interface is live; `usb_get_intf` takes a reference that
        // `InterfaceRef` drops.
        unsafe { bindings::usb_get_intf(self.as_raw()) };
        // INVARIANT: We hold a reference, so the interface stays valid.
        InterfaceRef(NonNull::from(self))
    }

    /// Resets the device the interface belongs to (a USB port reset, re-running
    /// enumeration up to SET_CONFIGURATION). Fails at once if the interface is being
    /// unbound, and after a second if someone else holds the device lock. Drivers of
    /// the device's interfaces get their `pre_reset`/`post_reset` callbacks, this
    /// one's included.
    pub(crate) fn port_reset(&self) -> Result {
        // SAFETY: The interface is valid; the helper takes and drops the device lock
        // itself and does not keep the pointer.
        to_result(unsafe { crate::ffi::ub_usb_port_reset(self.as_raw()) })
    }

    /// [`Interface::port_reset`] without taking the device lock, for a driver
    /// whose probe holds it (the driver core takes it around probe, so the locking
    /// variant could only time out). The driver's own reset callbacks run without
    /// driver data then.
    ///
    /// # Safety
    ///
    /// The USB device's lock must be held for the whole call, by the caller or by
    /// a thread that waits for the caller to return (the probe, waiting for the I/O
    /// it started).
    pub(crate) unsafe fn port_reset_locked(&self) -> Result {
        let udev = self.usb_device().as_raw();
        // SAFETY: `udev` is valid while its interface is; the caller guarantees the
        // device lock `usb_reset_device` requires.
        to_result(unsafe { bindings::usb_reset_device(udev) })
    }

    /// Records the device's identification (INQUIRY vendor, product, revision;
    /// the USB serial number) and the quirk letters in force for the
    /// interface's sysfs attributes `vendor`, `model`, `rev`, `serial` and
    /// `quirks`, which the driver core adds once probe has succeeded. Call from
    /// probe; the record goes when the interface is unbound.
    pub(crate) fn set_ident(
        &self,
        vendor: &[u8],
        model: &[u8],
        rev: &[u8],
        quirks: &str,
    ) -> Result {
        // SAFETY: The interface is valid; the helper copies the bytes (at most the
        // given lengths) into a devres of the interface.
        to_result(unsafe {
            crate::ffi::ub_ident_set(
                self.as_raw(),
                vendor.as_ptr().cast(),
                vendor.len(),
                model.as_ptr().cast(),
                model.len(),
                rev.as_ptr().cast(),
                rev.len(),
                quirks.as_ptr().cast(),
                quirks.len(),
            )
        })
    }

    /// Hands a reference to `counters` to the interface's `ub_stats/` sysfs
    /// files, which the driver core adds once probe has succeeded. Call from
    /// probe; the reference is dropped when the interface is unbound.
    pub(crate) fn publish_counters(&self, counters: Arc<Counters>) -> Result {
        /// Counter `index` of `owner`, for a sysfs file.
        ///
        /// # Safety
        ///
        /// `owner` must be a pointer `publish_counters` handed to the C side, not
        /// yet released.
        unsafe extern "C" fn read(owner: *const ffi::c_void, index: ffi::c_uint) -> u64 {
            // SAFETY: `owner` is the pointer `publish_counters` got from
            // `Arc::into_raw`, whose reference is dropped only by `release`, after
            // the sysfs files are gone.
            let c = unsafe { &*owner.cast::<Counters>() };
            c.get(index as usize)
        }
        /// Drops the reference `owner` stands for.
        ///
        /// # Safety
        ///
        /// `owner` must be a pointer `publish_counters` handed to the C side; it
        /// is not used after this call.
        unsafe extern "C" fn release(owner: *const ffi::c_void) {
            // SAFETY: `owner` came from `Arc::into_raw` in `publish_counters`;
            // the C side calls this once.
            drop(unsafe { Arc::from_raw(owner.cast::<Counters>()) });
        }
        let owner = Arc::into_raw(counters).cast::<ffi::c_void>();
        // SAFETY: The interface is valid; the helper keeps `owner` in a devres of
        // the interface and calls `release` exactly once, on failure too.
        to_result(unsafe { crate::ffi::ub_stats_set(self.as_raw(), owner, read, release) })
    }

    /// Hands a reference to `knobs` to the interface's read-write timeout
    /// attributes (`cbw_timeout_ms`...), which the driver core adds once probe
    /// has succeeded. Call from probe; the reference is dropped at unbind.
    pub(crate) fn publish_knobs(&self, knobs: Arc<Knobs>) -> Result {
        /// Knob `index` of `owner`, for a sysfs file.
        ///
        /// # Safety
        ///
        /// `owner` must be a pointer `publish_knobs` handed to the C side, not yet
        /// released.
        unsafe extern "C" fn get(owner: *const ffi::c_void, index: ffi::c_uint) -> ffi::c_uint {
            // SAFETY: `owner` is the pointer `publish_knobs` got from
            // `Arc::into_raw`, whose reference is dropped only by `release`, after
            // the sysfs files are gone.
            let k = unsafe { &*owner.cast::<Knobs>() };
            k.get_index(index as usize).unwrap_or(0)
        }
        /// Sets knob `index` of `owner` to `ms`; 0 or a negative errno.
        ///
        /// # Safety
        ///
        /// As for `get`.
        unsafe extern "C" fn set(
            owner: *const ffi::c_void,
            index: ffi::c_uint,
            ms: ffi::c_uint,
        ) -> ffi::c_int {
            // SAFETY: As in `get`.
            let k = unsafe { &*owner.cast::<Knobs>() };
            match k.set_index(index as usize, ms) {
                Ok(()) => 0,
                Err(e) => e.to_errno(),
            }
        }
        /// Drops the reference `owner` stands for.
        ///
        /// # Safety
        ///
        /// `owner` must be a pointer `publish_knobs` handed to the C side; it is
        /// not used after this call.
        unsafe extern "C" fn release(owner: *const ffi::c_void) {
            // SAFETY: `owner` came from `Arc::into_raw` in `publish_knobs`; the C
            // side calls this once.
            drop(unsafe { Arc::from_raw(owner.cast::<Knobs>()) });
        }
        let owner = Arc::into_raw(knobs).cast::<ffi::c_void>();
        // SAFETY: The interface is valid; the helper keeps `owner` in a devres of
        // the interface and calls `release` exactly once, on failure too.
        to_result(unsafe { crate::ffi::ub_knobs_set(self.as_raw(), owner, get, set, release) })
    }

    /// Dynamic-debug line for a CBW sent.
    pub(crate) fn trace_cbw(&self, tag: u32, lun: u8, opcode: u8, len: u32, is_in: bool) {
        // SAFETY: The interface is valid; the helper only prints.
        unsafe { crate::ffi::ub_dbg_cbw(self.as_raw(), tag, lun, opcode, len, is_in) };
    }

    /// Dynamic-debug line for a data stage done: `moved` of `len` bytes, the
    /// transfer's status as an errno (0 on success).
    pub(crate) fn trace_data(&self, tag: u32, len: u32, moved: usize, status: i32) {
        // SAFETY: The interface is valid; the helper only prints.
        unsafe { crate::ffi::ub_dbg_data(self.as_raw(), tag, len, moved, status) };
    }

    /// Dynamic-debug line for a CSW received.
    pub(crate) fn trace_csw(&self, tag: u32, residue: u32, status: u8) {
        // SAFETY: The interface is valid; the helper only prints.
        unsafe { crate::ffi::ub_dbg_csw(self.as_raw(), tag, residue, status) };
    }

    /// Dynamic-debug line for a command that ended without a valid CSW.
    pub(crate) fn trace_error(&self, tag: u32, stage: &str, fault: &str) {
        let len = |s: &str| ffi::c_int::try_from(s.len()).unwrap_or(0);
        // SAFETY: The interface is valid; the helper prints at most the given
        // number of bytes of each string.
        unsafe {
            crate::ffi::ub_dbg_error(
                self.as_raw(),
                tag,
                stage.as_ptr().cast(),
                len(stage),
                fault.as_ptr().cast(),
                len(fault),
            )
        };
    }

    /// Takes a runtime PM reference on the interface, resuming the device if it
    /// is suspended (which may sleep); the reference goes with the guard.
    pub(crate) fn autopm_get(&self) -> Result<AutoPm> {
        // SAFETY: The interface is valid; on success the reference is dropped by
        // `AutoPm`, which holds its own reference to the interface.
        to_result(unsafe { bindings::usb_autopm_get_interface(self.as_raw()) })?;
        Ok(AutoPm(self.get_ref()))
    }

    /// The interface's device name, such as `1-1:1.0`.
    pub(crate) fn name(&self) -> &CStr {
        // SAFETY: The interface is valid (type invariant) and registered, so its kobject
        // has a name that lives as long as the interface.
        unsafe { CStr::from_char_ptr((*self.as_raw()).dev.kobj.name) }
    }

    /// The USB device this interface belongs to.
    pub(crate) fn usb_device(&self) -> &UsbDevice {
        // SAFETY: The interface is valid; its parent device outlives it.
        let udev = unsafe { bindings::interface_to_usbdev(self.as_raw()) };
        // SAFETY: `udev` is valid for as long as `self`; `UsbDevice` is transparent.
        unsafe { &*udev.cast() }
    }

    /// The first bulk-in and bulk-out endpoints of the current alternate setting.
    pub(crate) fn bulk_endpoints(&self) -> Option<(Endpoint, Endpoint)> {
        let mut bulk_in: *mut bindings::usb_endpoint_descriptor = core::ptr::null_mut();
        let mut bulk_out: *mut bindings::usb_endpoint_descriptor = core::ptr::null_mut();
        // SAFETY: The interface is valid and has a current alternate setting while a
        // driver is bound or binding; the out-pointers are valid locals.
        let ret = unsafe {
            bindings::usb_find_common_endpoints(
                (*self.as_raw()).cur_altsetting,
                &mut bulk_in,
                &mut bulk_out,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            )
        };
        if ret != 0 || bulk_in.is_null() || bulk_out.is_null() {
            return None;
        }
        // SAFETY: On success both point into the altsetting's endpoint array.
        unsafe {
            Some((
                Endpoint::from_desc(&*bulk_in),
                Endpoint::from_desc(&*bulk_out),
            ))
        }
    }
}

/// The USB device an [`Interface`] belongs to.
///
/// # Invariants
///
/// `self.0` is a valid `struct usb_device` for as long as the reference exists.
#[repr(transparent)]
pub(crate) struct UsbDevice(Opaque<bindings::usb_device>);

impl UsbDevice {
    /// The raw device, for the bundled C helpers.
    pub(crate) fn as_raw(&self) -> *mut bindings::usb_device {
        self.0.get()
    }

    /// A counted reference to the device.
    pub(crate) fn get_ref(&self) -> UsbDeviceRef {
        // SAFETY: The device is valid (type invariant); the reference is dropped
        // when the `UsbDeviceRef` drops.
        unsafe { bindings::usb_get_dev(self.as_raw()) };
        UsbDeviceRef(NonNull::from(self))
    }

    /// The pipe for a bulk endpoint.
    pub(crate) fn bulk_pipe(&self, ep: Endpoint) -> Pipe {
        // SAFETY: The device is valid; the helper only computes a number.
        let raw = unsafe { crate::ffi::usb_sg_bulk_pipe(self.as_raw(), ep.address) };
        Pipe {
            raw,
            is_in: ep.address & 0x80 != 0,
        }
    }

    /// Whether URBs reach the device in the order they were queued, across
    /// endpoints (xHCI: one ring and doorbell per endpoint).
    pub(crate) fn in_order_rings(&self) -> bool {
        // SAFETY: The device is valid; the helper only reads its bus's HCD flags.
        unsafe { crate::ffi::usb_sg_in_order_rings(self.as_raw()) }
    }

    /// Lets the controller's DMA layer map scatterlist entries of any length, as
    /// a queue with a virtual boundary hands them out (see usbcore_sg.c).
    pub(crate) fn allow_any_segment_size(&self) {
        // SAFETY: The device is valid; the helper only changes the controller's
        // DMA segment limit, as the SCSI midlayer does for usb-storage.
        unsafe { crate::ffi::usb_sg_allow_any_segment_size(self.as_raw()) }
    }

    /// Scatterlist entries the bus takes in one URB; 0 when it takes none
    /// (dwc2, musb, max3421, controllers with local memory).
    pub(crate) fn sg_tablesize(&self) -> u32 {
        // SAFETY: The device and its bus are valid.
        unsafe { (*(*self.as_raw()).bus).sg_tablesize }
    }

    /// Whether the controller accepts scatterlist entries of any length (xHCI);
    /// others need every entry but the last to be a multiple of the max packet.
    pub(crate) fn no_sg_constraint(&self) -> bool {
        // SAFETY: The device and its bus are valid.
        unsafe { (*(*self.as_raw()).bus).no_sg_constraint() != 0 }
    }

    /// The largest DMA mapping the host controller allows (swiotlb bounds it, for
    /// instance); `usize::MAX` when the HCD maps transfers itself.
    pub(crate) fn dma_max_mapping_size(&self) -> usize {
        // SAFETY: The device is valid; the helper only reads the controller's limits.
        unsafe { crate::ffi::usb_sg_max_mapping_size(self.as_raw()) }
    }

    /// A bulk transfer of the first `len` bytes of `buf`, waiting at most
    /// `timeout_ms`; returns the bytes moved.
    pub(crate) fn bulk_msg(
        &self,
        pipe: Pipe,
        buf: &mut DmaBuf,
        len: usize,
        timeout_ms: u32,
    ) -> core::result::Result<usize, TransferError> {
        // usb_bulk_msg() allocates its URB with GFP_KERNEL.
        crate::kext::assert_noio();
        let len = len.min(buf.as_slice().len());
        let len_c = ffi::c_int::try_from(len).map_err(|_| TransferError::Other(EINVAL))?;
        let mut actual: ffi::c_int = 0;
        // SAFETY: The device is valid; `buf` is kmalloc memory of at least `len`
        // bytes, borrowed for the call, which returns when the URB is done or killed.
        let ret = unsafe {
            bindings::usb_bulk_msg(
                self.as_raw(),
                pipe.raw,
                buf.as_mut_ptr(),
                len_c,
                &mut actual,
                timeout_ms as ffi::c_int,
            )
        };
        match ret {
            0 => Ok(usize::try_from(actual).unwrap_or(0)),
            e if e == ETIMEDOUT.to_errno() => Err(TransferError::TimedOut),
            e => Err(TransferError::from_errno(e)),
        }
    }

    /// A control request on the default pipe with, if `data` is given, its first
    /// `len` bytes as data stage (IN when `is_in`); waits at most `timeout_ms`.
    #[allow(clippy::too_many_arguments)]
    fn control_msg(
        &self,
        is_in: bool,
        request: u8,
        request_type: u8,
        value: u16,
        index: u16,
        data: Option<(&mut DmaBuf, usize)>,
        timeout_ms: u32,
    ) -> core::result::Result<usize, TransferError> {
        let (ptr, len) = match data {
            Some((buf, len)) if len > 0 => {
                let len = u16::try_from(len.min(buf.as_slice().len()))
                    .map_err(|_| TransferError::Other(EINVAL))?;
                (buf.as_mut_ptr(), len)
            }
            _ => (core::ptr::null_mut(), 0),
        };
        // SAFETY: The device is valid; the helper only computes a number.
        let pipe = unsafe { crate::ffi::usb_sg_ctrl_pipe(self.as_raw(), is_in) };
        // SAFETY: The device is valid; `ptr` is null with `len` 0, or kmalloc memory
        // of at least `len` bytes borrowed for the call.
        let ret = unsafe {
            bindings::usb_control_msg(
                self.as_raw(),
                pipe,
                request,
                request_type,
                value,
                index,
                ptr,
                len,
                timeout_ms as ffi::c_int,
            )
        };
        if ret >= 0 {
            Ok(ret as usize)
        } else if ret == ETIMEDOUT.to_errno() {
            Err(TransferError::TimedOut)
        } else {
            Err(TransferError::from_errno(ret))
        }
    }

    /// A class request to interface `index` on the default pipe, with `len` bytes
    /// of `buf` as data stage (IN when `is_in`).
    pub(crate) fn class_request(
        &self,
        is_in: bool,
        request: u8,
        index: u16,
        buf: &mut DmaBuf,
        len: usize,
        timeout_ms: u32,
    ) -> core::result::Result<usize, TransferError> {
        let dir = if is_in { bindings::USB_DIR_IN } else { 0 };
        let request_type = (dir | bindings::USB_TYPE_CLASS | bindings::USB_RECIP_INTERFACE) as u8;
        self.control_msg(
            is_in,
            request,
            request_type,
            0,
            index,
            Some((buf, len)),
            timeout_ms,
        )
    }

    /// Clears a halt (stall) on a bulk pipe: CLEAR_FEATURE(ENDPOINT_HALT), waiting
    /// at most `timeout_ms` (`usb_clear_halt()` would wait 5 s), then a reset of the
    /// host side's data toggle, as `usb_clear_halt()` does.
    pub(crate) fn clear_halt(
        &self,
        pipe: Pipe,
        timeout_ms: u32,
    ) -> core::result::Result<(), TransferError> {
        // SAFETY: The helper only computes a number.
        let endpoint = unsafe { crate::ffi::usb_sg_pipe_endpoint(pipe.raw) };
        self.control_msg(
            false,
            bindings::USB_REQ_CLEAR_FEATURE as u8,
            bindings::USB_RECIP_ENDPOINT as u8,
            bindings::USB_ENDPOINT_HALT as u16,
            endpoint.into(),
            None,
            timeout_ms,
        )?;
        // SAFETY: The device is valid; `usb_reset_endpoint` resets the toggle of an
        // endpoint of its current configuration and ignores unknown ones.
        unsafe { bindings::usb_reset_endpoint(self.as_raw(), endpoint.into()) };
        Ok(())
    }

    fn descriptor(&self) -> &bindings::usb_device_descriptor {
        // SAFETY: The device is valid (type invariant); its descriptor is read at
        // enumeration and not written while interfaces are bound.
        unsafe { &(*self.0.get()).descriptor }
    }

    /// `idVendor` from the device descriptor.
    pub(crate) fn vendor_id(&self) -> u16 {
        u16::from_le(self.descriptor().idVendor)
    }

    /// `bcdDevice`: the device's release number.
    pub(crate) fn release(&self) -> u16 {
        u16::from_le(self.descriptor().bcdDevice)
    }

    /// `idProduct` from the device descriptor.
    pub(crate) fn product_id(&self) -> u16 {
        u16::from_le(self.descriptor().idProduct)
    }

    /// The manufacturer string (iManufacturer) read at enumeration; empty if
    /// the device has none.
    pub(crate) fn manufacturer(&self) -> &[u8] {
        // SAFETY: The device is valid (type invariant); its string is null or
        // set at enumeration and freed with the device, which `self` outlives.
        unsafe { string_or_empty((*self.0.get()).manufacturer) }
    }

    /// The product string (iProduct) read at enumeration; empty if none.
    pub(crate) fn product(&self) -> &[u8] {
        // SAFETY: As in `manufacturer`.
        unsafe { string_or_empty((*self.0.get()).product) }
    }

    /// The negotiated speed, as the USB core names it (`high-speed`, `super-speed`, ...).
    pub(crate) fn speed(&self) -> &'static CStr {
        // SAFETY: The device is valid; `speed` is set at enumeration.
        let speed = unsafe { (*self.0.get()).speed };
        // SAFETY: `usb_speed_string` returns a static string for any value.
        unsafe { CStr::from_char_ptr(bindings::usb_speed_string(speed)) }
    }
}

/// The bytes of a C string the USB core owns, or nothing for a null pointer.
///
/// # Safety
///
/// `s` is null or a NUL-terminated string that stays valid and unchanged for `'a`.
unsafe fn string_or_empty<'a>(s: *const ffi::c_char) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    // SAFETY: Non-null, so NUL-terminated and valid for `'a` (the contract).
    unsafe { CStr::from_char_ptr(s) }.to_bytes()
}

/// A counted reference to a [`UsbDevice`], dropped with `usb_put_dev()`.
///
/// # Invariants
///
/// Holds a reference taken with `usb_get_dev()` on a valid device.
pub(crate) struct UsbDeviceRef(NonNull<UsbDevice>);

// SAFETY: A device reference may be used and dropped from any thread.
unsafe impl Send for UsbDeviceRef {}
// SAFETY: `UsbDevice` methods take `&self` and are safe to call concurrently (the
// USB core serialises what needs it).
unsafe impl Sync for UsbDeviceRef {}

impl core::ops::Deref for UsbDeviceRef {
    type Target = UsbDevice;

    fn deref(&self) -> &UsbDevice {
        // SAFETY: We hold a reference, so the device is valid (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl Drop for UsbDeviceRef {
    fn drop(&mut self) {
        // SAFETY: Drops the reference taken in `Interface::get_usb_device`.
        unsafe { bindings::usb_put_dev(self.0.as_ref().as_raw()) };
    }
}

/// A counted reference to an [`Interface`], dropped with `usb_put_intf()`.
///
/// # Invariants
///
/// Holds a reference taken with `usb_get_intf()` on a valid interface.
pub(crate) struct InterfaceRef(NonNull<Interface>);

// SAFETY: An interface reference may be used and dropped from any thread.
unsafe impl Send for InterfaceRef {}
// SAFETY: `Interface` methods reachable through it take `&self` and the USB core
// serialises what needs it (the device lock in `port_reset`).
unsafe impl Sync for InterfaceRef {}

impl core::ops::Deref for InterfaceRef {
    type Target = Interface;

    fn deref(&self) -> &Interface {
        // SAFETY: We hold a reference, so the interface is valid (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl Drop for InterfaceRef {
    fn drop(&mut self) {
        // SAFETY: Drops the reference taken in `Interface::get_ref`.
        unsafe { bindings::usb_put_intf(self.0.as_ref().as_raw()) };
    }
}

/// A runtime PM reference on an interface (`usb_autopm_get_interface()`); dropped
/// asynchronously, so that a suspend it allows never runs in the dropping thread.
pub(crate) struct AutoPm(InterfaceRef);

impl Drop for AutoPm {
    fn drop(&mut self) {
        // SAFETY: Drops the PM reference `Interface::autopm_get` took; the
        // interface is valid (we hold a reference to it).
        unsafe { bindings::usb_autopm_put_interface_async(self.0.as_raw()) };
    }
}

/// A USB pipe (the encoded endpoint, type and direction the USB core takes).
#[derive(Clone, Copy)]
pub(crate) struct Pipe {
    raw: ffi::c_uint,
    is_in: bool,
}

impl Pipe {
    /// The encoded pipe.
    pub(crate) fn raw(&self) -> ffi::c_uint {
        self.raw
    }

    /// Whether data flows from the device.
    pub(crate) fn is_in(&self) -> bool {
        self.is_in
    }
}

/// A bulk endpoint: its address (direction bit included) and max packet size.
#[derive(Clone, Copy)]
pub(crate) struct Endpoint {
    address: u8,
    max_packet: u16,
}

impl Endpoint {
    fn from_desc(desc: &bindings::usb_endpoint_descriptor) -> Self {
        Self {
            address: desc.bEndpointAddress,
            // Bits 10..0 of wMaxPacketSize (USB 2.0 9.6.6); the rest are high-bandwidth bits.
            max_packet: u16::from_le(desc.wMaxPacketSize) & 0x7ff,
        }
    }

    /// `bEndpointAddress`, with bit 7 set for IN endpoints.
    pub(crate) fn address(&self) -> u8 {
        self.address
    }

    /// The maximum packet size in bytes.
    pub(crate) fn max_packet(&self) -> u16 {
        self.max_packet
    }
}
