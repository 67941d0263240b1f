// SPDX-License-Identifier: GPL-2.0
/*
 * What the Rust side of ub cannot reach through bindgen: static inline block-layer
 * helpers, the blk_mq_alloc_disk() macro (it owns a lockdep class), the disk index
 * allocator, and the block_device_operations table (it needs THIS_MODULE so that an
 * open disk pins the module), the string parameter `quirks` (the Rust module
 * macro has integer and bool parameters only), and the identification attributes
 * of a bound interface (sysfs show functions). Each is a line or two of
 * forwarding; the logic is in Rust.
 */

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/cdrom.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include <linux/sched/mm.h>
#include <linux/usb.h>

#include "helpers.h"

static DEFINE_IDA(ub_disk_ida);

int ub_disk_index_alloc(void)
{
	return ida_alloc(&ub_disk_ida, GFP_KERNEL);
}

void ub_disk_index_free(int index)
{
	ida_free(&ub_disk_ida, index);
}

static int ub_open(struct gendisk *disk, blk_mode_t mode)
{
	const struct ub_disk_hooks *h = disk->private_data;

	return h->open(h->owner, disk, mode & BLK_OPEN_NDELAY);
}

static unsigned int ub_check_events(struct gendisk *disk, unsigned int clearing)
{
	const struct ub_disk_hooks *h = disk->private_data;

	return h->check_events(h->owner);
}

static int ub_ioctl(struct block_device *bdev, blk_mode_t mode, unsigned int cmd,
		    unsigned long arg)
{
	const struct ub_disk_hooks *h = bdev->bd_disk->private_data;

	switch (cmd) {
	case CDROMEJECT:
		return h->eject(h->owner);
	case CDROM_LOCKDOOR:
		/* eject(1) unlocks first and gives up on this method if that fails. */
		return h->lock_door(h->owner, arg != 0);
	default:
		return -ENOTTY;
	}
}

/* The last reference to an added disk is gone: drop the hooks and their owner. */
static void ub_free_disk(struct gendisk *disk)
{
	struct ub_disk_hooks *h = disk->private_data;

	h->release(h);
}

static const struct block_device_operations ub_fops = {
	.owner = THIS_MODULE,
	.open = ub_open,
	.check_events = ub_check_events,
	.ioctl = ub_ioctl,
	.compat_ioctl = blkdev_compat_ptr_ioctl,
	.free_disk = ub_free_disk,
};

const struct block_device_operations *ub_disk_fops(void)
{
	return &ub_fops;
}

struct gendisk *ub_blk_mq_alloc_disk(struct blk_mq_tag_set *set,
				     struct queue_limits *lim, void *queuedata)
{
	return blk_mq_alloc_disk(set, lim, queuedata);
}

sector_t ub_blk_rq_pos(const struct request *rq)
{
	return blk_rq_pos(rq);
}

unsigned int ub_blk_rq_bytes(const struct request *rq)
{
	return blk_rq_bytes(rq);
}

unsigned int ub_req_op(const struct request *rq)
{
	return req_op(rq);
}

int ub_blk_rq_map_sg(struct request *rq, struct scatterlist *sglist)
{
	return blk_rq_map_sg(rq, sglist);
}

void *ub_rq_queuedata(const struct request *rq)
{
	return rq->q->queuedata;
}

blk_status_t ub_errno_to_blk_status(int err)
{
	return errno_to_blk_status(err);
}

void ub_limits_set_write_cache(struct queue_limits *lim)
{
	lim->features |= BLK_FEAT_WRITE_CACHE;
}

unsigned int ub_noio_save(void)
{
	return memalloc_noio_save();
}

void ub_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
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
 * usb-storage's quirks syntax, VID:PID:letters[,...]; parsed in drivers/ub/quirks.rs
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
};

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

static struct attribute *ub_ident_attrs[] = {
	&dev_attr_vendor.attr,
	&dev_attr_model.attr,
	&dev_attr_rev.attr,
	&dev_attr_serial.attr,
	NULL,
};

static const struct attribute_group ub_ident_group = {
	.attrs = ub_ident_attrs,
};

static const struct attribute_group *ub_ident_groups[] = {
	&ub_ident_group,
	NULL,
};

const struct attribute_group **ub_ident_attr_groups(void)
{
	return ub_ident_groups;
}

/* Records the identification of intf (lengths in bytes, not NUL-terminated). */
int ub_ident_set(struct usb_interface *intf, const char *vendor, size_t vlen,
		 const char *model, size_t mlen, const char *rev, size_t rlen)
{
	struct usb_device *udev = interface_to_usbdev(intf);
	struct ub_ident *id;

	id = devres_alloc(ub_ident_release, sizeof(*id), GFP_KERNEL);
	if (!id)
		return -ENOMEM;
	memcpy(id->vendor, vendor, min(vlen, sizeof(id->vendor) - 1));
	memcpy(id->model, model, min(mlen, sizeof(id->model) - 1));
	memcpy(id->rev, rev, min(rlen, sizeof(id->rev) - 1));
	strscpy(id->serial, udev->serial ?: "", sizeof(id->serial));
	devres_add(&intf->dev, id);
	return 0;
}
