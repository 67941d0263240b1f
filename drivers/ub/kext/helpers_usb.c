// SPDX-License-Identifier: GPL-2.0
/*
 * The USB side of what the Rust side of ub cannot reach through bindgen: the
 * task's no-I/O allocation scope (static inlines), the locked port reset, the
 * string module parameter `quirks` (the Rust module macro has integer and bool
 * parameters only), the bound interface's sysfs attributes (identification,
 * counters, stage timeouts: show and store functions) and dynamic-debug lines.
 * The logic, the values and their names are in Rust (drivers/ub/kext/usb/).
 */

#include <linux/device.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/usb.h>

#include "helpers.h"

unsigned int ub_noio_save(void)
{
	return memalloc_noio_save();
}

void ub_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
}

/* Whether the current task allocates as GFP_NOIO (inside memalloc_noio_save()). */
bool ub_noio_active(void)
{
	return current->flags & PF_MEMALLOC_NOIO;
}

/*
 * A port reset of the interface's device, as usb-storage's usb_stor_port_reset()
 * does it: usb_reset_device() needs the device lock, which the caller (the I/O
 * worker) does not hold; usb_lock_device_for_reset() gives up after a second, or at
 * once when the interface is being unbound, so this cannot deadlock with disconnect.
 */
int ub_usb_port_reset(struct usb_interface *intf)
{
	struct usb_device *udev = interface_to_usbdev(intf);
	int ret;

	ret = usb_lock_device_for_reset(udev, intf);
	if (ret < 0)
		return ret;
	ret = usb_reset_device(udev);
	usb_unlock_device(udev);
	return ret;
}

/*
 * usb-storage's quirks syntax, VID:PID:letters[,...]; parsed in drivers/ub/bot/quirks.rs
 * at each probe, so a change applies to the next device bound.
 */
static char ub_quirks[256];
module_param_string(quirks, ub_quirks, sizeof(ub_quirks), 0644);
MODULE_PARM_DESC(quirks, "Quirks per device: VID:PID:letters[,...] (usb-storage's letters, see Documentation/ub.rst)");

/* Copies the quirks parameter into buf (NUL-terminated); returns its length. */
size_t ub_quirks_param(char *buf, size_t len)
{
	ssize_t n;

	if (!len)
		return 0;
	kernel_param_lock(THIS_MODULE);
	n = strscpy(buf, ub_quirks, len);
	kernel_param_unlock(THIS_MODULE);
	return n < 0 ? len - 1 : n;
}

/*
 * What INQUIRY and the device descriptor say, as the bound interface's sysfs
 * attributes vendor, model, rev and serial: /sys/block/uba/device/model is where
 * lsblk and other tools look without udev, as for sd's scsi_device. The strings
 * live in a devres of the interface, added by probe; the driver core creates the
 * attributes (usb_driver.dev_groups) after probe and removes them at unbind before
 * the devres goes, so a show function always finds it.
 */
struct ub_ident {
	char vendor[9];
	char model[17];
	char rev[5];
	char serial[128];
	/*
	 * The quirk letters in force and those learned (drivers/ub/bot/quirks.rs),
	 * "" for none; rewritten when the driver learns one, under ub_ident_lock.
	 */
	char quirks[80];
};

static DEFINE_SPINLOCK(ub_ident_lock);

static void ub_ident_release(struct device *dev, void *res)
{
}

#define UB_IDENT_ATTR(field)							\
static ssize_t field##_show(struct device *dev, struct device_attribute *attr,	\
			    char *buf)						\
{										\
	struct ub_ident *id = devres_find(dev, ub_ident_release, NULL, NULL);	\
										\
	return id ? sysfs_emit(buf, "%s\n", id->field) : -ENODEV;		\
}										\
static DEVICE_ATTR_RO(field)

UB_IDENT_ATTR(vendor);
UB_IDENT_ATTR(model);
UB_IDENT_ATTR(rev);
UB_IDENT_ATTR(serial);
static ssize_t quirks_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct ub_ident *id = devres_find(dev, ub_ident_release, NULL, NULL);
	ssize_t n;

	if (!id)
		return -ENODEV;
	spin_lock(&ub_ident_lock);
	n = sysfs_emit(buf, "%s\n", id->quirks);
	spin_unlock(&ub_ident_lock);
	return n;
}
static DEVICE_ATTR_RO(quirks);

static struct attribute *ub_ident_attrs[] = {
	&dev_attr_vendor.attr,
	&dev_attr_model.attr,
	&dev_attr_rev.attr,
	&dev_attr_serial.attr,
	&dev_attr_quirks.attr,
	NULL,
};

static const struct attribute_group ub_ident_group = {
	.attrs = ub_ident_attrs,
};


/*
 * Records the identification of intf and the quirk letters in force (lengths in
 * bytes, not NUL-terminated).
 */
int ub_ident_set(struct usb_interface *intf, const char *vendor, size_t vlen,
		 const char *model, size_t mlen, const char *rev, size_t rlen,
		 const char *quirks, size_t qlen)
{
	struct usb_device *udev = interface_to_usbdev(intf);
	struct ub_ident *id;

	id = devres_alloc(ub_ident_release, sizeof(*id), GFP_KERNEL);
	if (!id)
		return -ENOMEM;
	/* Each string ends where the device's ended, whatever the memory held. */
	vlen = min(vlen, sizeof(id->vendor) - 1);
	mlen = min(mlen, sizeof(id->model) - 1);
	rlen = min(rlen, sizeof(id->rev) - 1);
	qlen = min(qlen, sizeof(id->quirks) - 1);
	memcpy(id->vendor, vendor, vlen);
	id->vendor[vlen] = '\0';
	memcpy(id->model, model, mlen);
	id->model[mlen] = '\0';
	memcpy(id->rev, rev, rlen);
	id->rev[rlen] = '\0';
	memcpy(id->quirks, quirks, qlen);
	id->quirks[qlen] = '\0';
	strscpy(id->serial, udev->serial ?: "", sizeof(id->serial));
	devres_add(&intf->dev, id);
	return 0;
}

/*
 * Rewrites the quirks shown for intf (qlen bytes, not NUL-terminated): the
 * driver learned one. -ENODEV before ub_ident_set() (the probe passes what was
 * learned until then to it).
 */
int ub_ident_set_quirks(struct usb_interface *intf, const char *quirks,
			size_t qlen)
{
	struct ub_ident *id = devres_find(&intf->dev, ub_ident_release, NULL, NULL);

	if (!id)
		return -ENODEV;
	qlen = min(qlen, sizeof(id->quirks) - 1);
	spin_lock(&ub_ident_lock);
	memcpy(id->quirks, quirks, qlen);
	id->quirks[qlen] = '\0';
	spin_unlock(&ub_ident_lock);
	return 0;
}

/*
 * Tables of values the Rust side owns, shown as files of the bound interface:
 * the counters (the directory ub_stats/, read-only) and the stage timeouts
 * (*_timeout_ms, read-write). The names come from Rust when the driver
 * registers (drivers/ub/bot/counters.rs, knobs.rs). A devres holds a reference to
 * the Rust owner of each table, taken by ub_values_set() and dropped by its
 * release callback when the interface is unbound, after the driver core
 * removed the files.
 */
enum { UB_STATS, UB_KNOBS, UB_TABLES };
#define UB_MAX_VALUES 32

struct ub_values {
	unsigned int table;
	const void *owner;
	u64 (*read)(const void *owner, unsigned int index);
	int (*write)(const void *owner, unsigned int index, unsigned int value);
	void (*release)(const void *owner);
};

static void ub_values_release(struct device *dev, void *res)
{
	struct ub_values *v = res;

	v->release(v->owner);
}

static int ub_values_match(struct device *dev, void *res, void *table)
{
	return ((struct ub_values *)res)->table == *(unsigned int *)table;
}

/* A sysfs file that stands for entry index of a table. */
struct ub_index_attr {
	struct device_attribute attr;
	unsigned int table;
	unsigned int index;
};

static struct ub_values *ub_values_of(struct device *dev, struct device_attribute *attr,
				      unsigned int *index)
{
	struct ub_index_attr *ia = container_of(attr, struct ub_index_attr, attr);

	*index = ia->index;
	return devres_find(dev, ub_values_release, ub_values_match, &ia->table);
}

static ssize_t ub_value_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	unsigned int index;
	struct ub_values *v = ub_values_of(dev, attr, &index);

	if (!v)
		return -ENODEV;
	return sysfs_emit(buf, "%llu\n", v->read(v->owner, index));
}

static ssize_t ub_value_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	unsigned int index, value;
	struct ub_values *v = ub_values_of(dev, attr, &index);
	int ret;

	if (!v || !v->write)
		return -ENODEV;
	ret = kstrtouint(buf, 0, &value);
	if (ret)
		return ret;
	ret = v->write(v->owner, index, value);
	return ret ?: count;
}

static struct ub_index_attr ub_value_attrs[UB_TABLES][UB_MAX_VALUES];
static struct attribute *ub_value_lists[UB_TABLES][UB_MAX_VALUES + 1];

static const struct attribute_group ub_stats_group = {
	.name = "ub_stats",
	.attrs = ub_value_lists[UB_STATS],
};

static const struct attribute_group ub_knobs_group = {
	.attrs = ub_value_lists[UB_KNOBS],
};

static const struct attribute_group *ub_intf_groups[] = {
	&ub_ident_group,
	&ub_stats_group,
	&ub_knobs_group,
	NULL,
};

static int ub_values_init(unsigned int table, unsigned int n,
			  const char *(*name)(unsigned int index), umode_t mode)
{
	unsigned int i;

	if (n > UB_MAX_VALUES)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		struct ub_index_attr *ia = &ub_value_attrs[table][i];

		sysfs_attr_init(&ia->attr.attr);
		ia->attr.attr.name = name(i);
		ia->attr.attr.mode = mode;
		ia->attr.show = ub_value_show;
		ia->attr.store = mode & 0200 ? ub_value_store : NULL;
		ia->table = table;
		ia->index = i;
		ub_value_lists[table][i] = &ia->attr.attr;
	}
	ub_value_lists[table][n] = NULL;
	return 0;
}

/*
 * The bound interface's attribute groups, with n_stats counters and n_knobs
 * timeouts named by the given functions (static strings); NULL if there are
 * more than the tables hold. Called once, before the driver registers.
 */
const struct attribute_group **ub_intf_attr_groups(unsigned int n_stats,
						   const char *(*stat_name)(unsigned int),
						   unsigned int n_knobs,
						   const char *(*knob_name)(unsigned int))
{
	if (ub_values_init(UB_STATS, n_stats, stat_name, 0444) ||
	    ub_values_init(UB_KNOBS, n_knobs, knob_name, 0644))
		return NULL;
	return ub_intf_groups;
}

/*
 * Publishes the values of intf's table (0: counters, 1: timeouts): read(owner, i)
 * gives value i, write(owner, i, v) (NULL for read-only) sets it (0 or a negative
 * errno); release(owner) is called once when the interface is unbound, also when
 * this fails, so the caller's reference is consumed either way.
 */
int ub_values_set(struct usb_interface *intf, unsigned int table, const void *owner,
		  u64 (*read)(const void *owner, unsigned int index),
		  int (*write)(const void *owner, unsigned int index, unsigned int value),
		  void (*release)(const void *owner))
{
	struct ub_values *v;

	if (table >= UB_TABLES) {
		release(owner);
		return -EINVAL;
	}
	v = devres_alloc(ub_values_release, sizeof(*v), GFP_KERNEL);
	if (!v) {
		release(owner);
		return -ENOMEM;
	}
	v->table = table;
	v->owner = owner;
	v->read = read;
	v->write = write;
	v->release = release;
	devres_add(&intf->dev, v);
	return 0;
}

/*
 * The BOT phases of each command, for dynamic debug (`module ub +p`): the Rust
 * pr_debug! is compiled out unless the kernel has Rust debug assertions, and is
 * not switchable at run time; these are, and cost a static branch when off.
 */
void ub_dbg_cbw(struct usb_interface *intf, u32 tag, u8 lun, u8 opcode, u32 len,
		bool in)
{
	dev_dbg(&intf->dev, "CBW tag %u LUN %u opcode 0x%02x %s %u bytes\n", tag,
		lun, opcode, len ? (in ? "in" : "out") : "no data", len);
}

void ub_dbg_data(struct usb_interface *intf, u32 tag, u32 len, size_t moved,
		 int status)
{
	dev_dbg(&intf->dev, "data tag %u: %zu of %u bytes, status %d\n", tag, moved,
		len, status);
}

void ub_dbg_csw(struct usb_interface *intf, u32 tag, u32 residue, u8 status)
{
	dev_dbg(&intf->dev, "CSW tag %u status %u residue %u\n", tag, status,
		residue);
}

/* stage and fault are not NUL-terminated (Rust strings). */
void ub_dbg_error(struct usb_interface *intf, u32 tag, const char *stage,
		  int slen, const char *fault, int flen)
{
	dev_dbg(&intf->dev, "tag %u: %.*s stage: %.*s\n", tag, slen, stage, flen,
		fault);
}
