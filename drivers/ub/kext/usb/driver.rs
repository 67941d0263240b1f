// SPDX-License-Identifier: GPL-2.0

//! The USB interface driver registration the kernel crate does not have yet:
//! `kernel::usb::Driver` offers only `probe` and `disconnect`; `ub` needs the reset
//! and power callbacks too. [`Adapter`] fills a `struct usb_driver` with
//! trampolines into a [`Driver`] and reuses the kernel crate's generic
//! registration ([`kernel::driver::Registration`]); its device IDs are ours
//! ([`super::DeviceId`]), as `kernel::usb` exists only with `CONFIG_USB=y`.

use core::{marker::PhantomData, mem::offset_of};
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

use super::{
    sysfs::{counter_name, knob_name},
    Interface, PortReset, SysfsCounters, SysfsKnobs,
};

/// A USB interface driver registered through [`Adapter`].
pub(crate) trait Driver {
    /// Per-interface data, created by [`Driver::probe`] and dropped after
    /// [`Driver::disconnect`].
    type Data: Send;

    /// The counters it publishes for each interface.
    type Counters: SysfsCounters;

    /// The stage timeouts it publishes for each interface.
    type Knobs: SysfsKnobs;

    /// The interfaces this driver binds.
    const ID_TABLE: super::IdTable<()>;

    /// Binds `intf`; an error leaves it unbound.
    /// `reset` is how the driver resets the device, from its probe or later.
    fn probe(intf: &Interface, reset: Arc<PortReset>) -> impl PinInit<Self::Data, Error> + '_;

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
        }
        // SAFETY: Called once, before the driver registers; the name functions
        // return static strings.
        let groups = unsafe {
            crate::kext::ffi::ub_intf_attr_groups(
                T::Counters::COUNT as u32,
                counter_name::<T::Counters>,
                T::Knobs::COUNT as u32,
                knob_name::<T::Knobs>,
            )
        };
        if groups.is_null() {
            pr_err!("more counters or timeouts than the sysfs tables hold\n");
            return Err(EINVAL);
        }
        // SAFETY: As above: not registered yet.
        unsafe { (*drv).dev_groups = groups };
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
            let reset = PortReset::new(iface)?;
            let data = T::probe(iface, reset.clone());
            // SAFETY: As above; this is our probe callback.
            let dev = unsafe { Self::core_device(intf) };
            let stored = dev.set_drvdata(data);
            // Still in the probe callback, with the device lock held.
            reset.probe_over();
            stored?;
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
