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
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/jiffies.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <scsi/sg.h>
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

/* SAM status and the host/driver codes of struct sg_io_hdr (scsi.h's values). */
#define UB_SAM_CHECK_CONDITION	0x02
#define UB_DID_NO_CONNECT	0x01
#define UB_DID_ERROR		0x07
#define UB_DRIVER_SENSE		0x08
/* The SG driver version sg3_utils checks for (3.5.27, as the block layer reports). */
#define UB_SG_VERSION		30527

/*
 * SG_IO on the disk: the sg v3 interface with the kernel's own checks
 * (drivers/scsi/scsi_ioctl.c): interface 'S', a CDB of 6 to 16 bytes (BOT carries
 * at most 16), a transfer no longer than the queue's largest request, a known
 * direction. Root only (CAP_SYS_RAWIO): there is no table of harmless commands.
 * Neither iovecs nor 32-bit callers are supported. The data goes through a
 * kernel bounce buffer; the command runs in Rust (QueueOps::passthrough).
 */
static int ub_sg_io(struct gendisk *disk, struct sg_io_hdr __user *uhdr)
{
	const struct ub_disk_hooks *h = disk->private_data;
	struct ub_passthrough pt = {};
	struct sg_io_hdr hdr;
	unsigned long start;
	unsigned int moved;
	int ret;

	if (!capable(CAP_SYS_RAWIO))
		return -EPERM;
	if (in_compat_syscall())
		return -ENOTTY;
	if (copy_from_user(&hdr, uhdr, sizeof(hdr)))
		return -EFAULT;
	if (hdr.interface_id != 'S')
		return -EINVAL;
	if (hdr.iovec_count)
		return -EOPNOTSUPP;
	if (hdr.cmd_len < 6)
		return -EMSGSIZE;
	if (hdr.cmd_len > sizeof(pt.cdb))
		return -EINVAL;
	if (hdr.dxfer_len > (queue_max_hw_sectors(disk->queue) << SECTOR_SHIFT))
		return -EIO;
	if (hdr.dxfer_len) {
		switch (hdr.dxfer_direction) {
		case SG_DXFER_TO_DEV:
			pt.dir = UB_PT_OUT;
			break;
		case SG_DXFER_FROM_DEV:
		case SG_DXFER_TO_FROM_DEV:
			pt.dir = UB_PT_IN;
			break;
		default:
			return -EINVAL;
		}
	}
	if (copy_from_user(pt.cdb, hdr.cmdp, hdr.cmd_len))
		return -EFAULT;
	pt.cdb_len = hdr.cmd_len;
	pt.len = hdr.dxfer_len;
	pt.timeout_ms = hdr.timeout;
	if (pt.len) {
		pt.buf = kvzalloc(pt.len, GFP_KERNEL);
		if (!pt.buf)
			return -ENOMEM;
		if (pt.dir == UB_PT_OUT && copy_from_user(pt.buf, hdr.dxferp, pt.len)) {
			ret = -EFAULT;
			goto out;
		}
	}

	start = jiffies;
	ret = h->passthrough(h->owner, &pt);
	hdr.duration = jiffies_to_msecs(jiffies - start);
	hdr.status = 0;
	hdr.masked_status = 0;
	hdr.msg_status = 0;
	hdr.sb_len_wr = 0;
	hdr.host_status = 0;
	hdr.driver_status = 0;
	hdr.resid = 0;
	if (ret == -EIO || ret == -ENODEV) {
		/* The command did not complete: no status, as for a host error. */
		hdr.host_status = ret == -ENODEV ? UB_DID_NO_CONNECT : UB_DID_ERROR;
		hdr.resid = hdr.dxfer_len;
		ret = 0;
	} else if (ret) {
		goto out;
	} else {
		hdr.status = pt.status;
		hdr.masked_status = pt.status >> 1;
		hdr.resid = min(pt.resid, pt.len);
		if (pt.status == UB_SAM_CHECK_CONDITION && pt.sense_len) {
			hdr.sb_len_wr = min_t(unsigned int, hdr.mx_sb_len, pt.sense_len);
			hdr.driver_status = UB_DRIVER_SENSE;
			if (hdr.sb_len_wr &&
			    copy_to_user(hdr.sbp, pt.sense, hdr.sb_len_wr)) {
				ret = -EFAULT;
				goto out;
			}
		}
		moved = pt.len - hdr.resid;
		if (pt.dir == UB_PT_IN && moved &&
		    copy_to_user(hdr.dxferp, pt.buf, moved)) {
			ret = -EFAULT;
			goto out;
		}
	}
	hdr.info = (hdr.status || hdr.host_status || hdr.driver_status) ?
		   SG_INFO_CHECK : SG_INFO_OK;
	if (copy_to_user(uhdr, &hdr, sizeof(hdr)))
		ret = -EFAULT;
out:
	kvfree(pt.buf);
	return ret;
}

static int ub_ioctl(struct block_device *bdev, blk_mode_t mode, unsigned int cmd,
		    unsigned long arg)
{
	const struct ub_disk_hooks *h = bdev->bd_disk->private_data;

	switch (cmd) {
	case SG_GET_VERSION_NUM:
		return put_user(UB_SG_VERSION, (int __user *)arg);
	case SG_IO:
		return ub_sg_io(bdev->bd_disk, (struct sg_io_hdr __user *)arg);
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

/*
 * The disk's ub/ directory: which LUN it is and that LUN's identification
 * (INQUIRY; serial from VPD page 0x80, empty without one). A card reader's
 * slots share the interface's attributes but not these. The hooks live until
 * the disk is freed, after its attributes are gone.
 */
#define UB_DISK_ATTR(field, fmt)						\
static ssize_t ub_disk_##field##_show(struct device *dev,			\
				      struct device_attribute *attr, char *buf)	\
{										\
	const struct ub_disk_hooks *h = dev_to_disk(dev)->private_data;		\
										\
	return sysfs_emit(buf, fmt "\n", h->ident.field);			\
}										\
static struct device_attribute ub_disk_attr_##field =				\
	__ATTR(field, 0444, ub_disk_##field##_show, NULL)

UB_DISK_ATTR(lun, "%u");
UB_DISK_ATTR(vendor, "%s");
UB_DISK_ATTR(model, "%s");
UB_DISK_ATTR(rev, "%s");
UB_DISK_ATTR(serial, "%s");

/*
 * ub/max_sectors: the largest command in 512-byte sectors, usb-storage's
 * device/max_sectors for one disk. Whole logical blocks, at least 4 KiB, at most
 * what the disk's scatterlist and DMA mapping take. Applied with the queue
 * frozen: requests already queued keep their size.
 */
static ssize_t ub_disk_max_sectors_show(struct device *dev,
					struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", queue_max_hw_sectors(dev_to_disk(dev)->queue));
}

static ssize_t ub_disk_max_sectors_store(struct device *dev,
					 struct device_attribute *attr,
					 const char *buf, size_t count)
{
	struct gendisk *disk = dev_to_disk(dev);
	const struct ub_disk_hooks *h = disk->private_data;
	struct request_queue *q = disk->queue;
	unsigned int lbs = queue_logical_block_size(q) >> SECTOR_SHIFT;
	struct queue_limits lim;
	unsigned int ms;
	int err;

	err = kstrtouint(buf, 10, &ms);
	if (err)
		return err;
	if (ms < 8 || ms > h->max_sectors_cap || ms % lbs)
		return -EINVAL;
	lim = queue_limits_start_update(q);
	lim.max_hw_sectors = ms;
	err = queue_limits_commit_update_frozen(q, &lim);
	return err ?: count;
}

static struct device_attribute ub_disk_attr_max_sectors =
	__ATTR(max_sectors, 0644, ub_disk_max_sectors_show, ub_disk_max_sectors_store);

static struct attribute *ub_disk_attrs[] = {
	&ub_disk_attr_max_sectors.attr,
	&ub_disk_attr_lun.attr,
	&ub_disk_attr_vendor.attr,
	&ub_disk_attr_model.attr,
	&ub_disk_attr_rev.attr,
	&ub_disk_attr_serial.attr,
	NULL,
};

static const struct attribute_group ub_disk_group = {
	.name = "ub",
	.attrs = ub_disk_attrs,
};

static const struct attribute_group *ub_disk_groups[] = {
	&ub_disk_group,
	NULL,
};

const struct attribute_group **ub_disk_attr_groups(void)
{
	return ub_disk_groups;
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

bool ub_req_fua(const struct request *rq)
{
	return rq->cmd_flags & REQ_FUA;
}

int ub_blk_rq_map_sg(struct request *rq, struct scatterlist *sglist)
{
	return blk_rq_map_sg(rq, sglist);
}

void *ub_rq_queuedata(const struct request *rq)
{
	return rq->q->queuedata;
}

unsigned int ub_rq_timeout_ms(const struct request *rq)
{
	return jiffies_to_msecs(rq->timeout);
}

void ub_rq_set_timeout_ms(struct request *rq, unsigned int ms)
{
	rq->timeout = msecs_to_jiffies(ms);
}

blk_status_t ub_errno_to_blk_status(int err)
{
	return errno_to_blk_status(err);
}

/* As sd_set_flush_flag(): FUA only with a write cache (the block layer agrees). */
void ub_limits_set_write_cache(struct queue_limits *lim, bool fua)
{
	lim->features |= BLK_FEAT_WRITE_CACHE;
	if (fua)
		lim->features |= BLK_FEAT_FUA;
}

/* As sd: a rotating medium, whose timings also feed the entropy pool. */
void ub_limits_set_rotational(struct queue_limits *lim)
{
	lim->features |= BLK_FEAT_ROTATIONAL | BLK_FEAT_ADD_RANDOM;
}

/*
 * Turns the volatile write cache feature of a live disk on or off (after a media
 * change): the queue is frozen meanwhile, as sd_revalidate_disk() does.
 */
int ub_disk_set_write_cache(struct gendisk *disk, bool on, bool fua)
{
	struct queue_limits lim = queue_limits_start_update(disk->queue);

	lim.features &= ~(BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA);
	if (on)
		ub_limits_set_write_cache(&lim, fua);
	return queue_limits_commit_update_frozen(disk->queue, &lim);
}

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
	/* The quirk letters in force (drivers/ub/quirks.rs), "" for none. */
	char quirks[33];
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
UB_IDENT_ATTR(quirks);

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
 * The device's counters (drivers/ub/counters.rs) as the directory ub_stats/ of
 * the bound interface, one file per counter. The devres holds a reference to the
 * Rust counters, taken by ub_stats_set() and dropped by its release callback when
 * the interface is unbound, after the driver core removed the files.
 */
struct ub_stats {
	const void *owner;
	u64 (*read)(const void *owner, unsigned int index);
	void (*release)(const void *owner);
};

static void ub_stats_release(struct device *dev, void *res)
{
	struct ub_stats *st = res;

	st->release(st->owner);
}

/* In the order of enum Counter in drivers/ub/counters.rs. */
static const char *const ub_stat_names[] = {
	"commands", "bytes_in", "bytes_out", "check_conditions", "residues",
	"timeouts", "stalls", "phase_errors", "bad_csws", "tag_mismatches",
	"bad_residues", "usb_errors", "gone", "recoveries", "bulk_resets",
	"clear_halts", "port_resets", "dead", "passthrough", "suspends",
	"resumes", "reset_resumes", "fua_writes",
};

/* A sysfs file that stands for entry index of a table (a counter, a knob). */
struct ub_index_attr {
	struct device_attribute attr;
	unsigned int index;
};

static void ub_index_attrs_init(struct ub_index_attr *attrs, struct attribute **list,
				const char *const *names, unsigned int n, umode_t mode,
				ssize_t (*show)(struct device *, struct device_attribute *, char *),
				ssize_t (*store)(struct device *, struct device_attribute *,
						 const char *, size_t))
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		sysfs_attr_init(&attrs[i].attr.attr);
		attrs[i].attr.attr.name = names[i];
		attrs[i].attr.attr.mode = mode;
		attrs[i].attr.show = show;
		attrs[i].attr.store = store;
		attrs[i].index = i;
		list[i] = &attrs[i].attr.attr;
	}
}

static ssize_t ub_stat_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct ub_index_attr *sa = container_of(attr, struct ub_index_attr, attr);
	struct ub_stats *st = devres_find(dev, ub_stats_release, NULL, NULL);

	if (!st)
		return -ENODEV;
	return sysfs_emit(buf, "%llu\n", st->read(st->owner, sa->index));
}

static struct ub_index_attr ub_stat_attrs[ARRAY_SIZE(ub_stat_names)];
static struct attribute *ub_stats_attrs[ARRAY_SIZE(ub_stat_names) + 1];

static const struct attribute_group ub_stats_group = {
	.name = "ub_stats",
	.attrs = ub_stats_attrs,
};

/*
 * The device's stage timeouts (drivers/ub/knobs.rs) as read-write attributes of
 * the bound interface, kept like the counters: a devres holds a reference to the
 * Rust knobs until the interface is unbound, after the files are gone.
 */
struct ub_knobs {
	const void *owner;
	unsigned int (*get)(const void *owner, unsigned int index);
	int (*set)(const void *owner, unsigned int index, unsigned int ms);
	void (*release)(const void *owner);
};

static void ub_knobs_release(struct device *dev, void *res)
{
	struct ub_knobs *k = res;

	k->release(k->owner);
}

/* In the order of enum Knob in drivers/ub/knobs.rs. */
static const char *const ub_knob_names[] = {
	"cbw_timeout_ms", "data_timeout_ms", "csw_timeout_ms", "ctrl_timeout_ms",
};

static ssize_t ub_knob_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct ub_index_attr *ka = container_of(attr, struct ub_index_attr, attr);
	struct ub_knobs *k = devres_find(dev, ub_knobs_release, NULL, NULL);

	if (!k)
		return -ENODEV;
	return sysfs_emit(buf, "%u\n", k->get(k->owner, ka->index));
}

static ssize_t ub_knob_store(struct device *dev, struct device_attribute *attr,
			     const char *buf, size_t count)
{
	struct ub_index_attr *ka = container_of(attr, struct ub_index_attr, attr);
	struct ub_knobs *k = devres_find(dev, ub_knobs_release, NULL, NULL);
	unsigned int ms;
	int ret;

	if (!k)
		return -ENODEV;
	ret = kstrtouint(buf, 0, &ms);
	if (ret)
		return ret;
	ret = k->set(k->owner, ka->index, ms);
	return ret ?: count;
}

static struct ub_index_attr ub_knob_attrs[ARRAY_SIZE(ub_knob_names)];
static struct attribute *ub_knobs_attrs[ARRAY_SIZE(ub_knob_names) + 1];

static const struct attribute_group ub_knobs_group = {
	.attrs = ub_knobs_attrs,
};

static const struct attribute_group *ub_intf_groups[] = {
	&ub_ident_group,
	&ub_stats_group,
	&ub_knobs_group,
	NULL,
};

/* The bound interface's attribute groups; called once, before registration. */
const struct attribute_group **ub_intf_attr_groups(void)
{
	ub_index_attrs_init(ub_stat_attrs, ub_stats_attrs, ub_stat_names,
			    ARRAY_SIZE(ub_stat_names), 0444, ub_stat_show, NULL);
	ub_index_attrs_init(ub_knob_attrs, ub_knobs_attrs, ub_knob_names,
			    ARRAY_SIZE(ub_knob_names), 0644, ub_knob_show, ub_knob_store);
	return ub_intf_groups;
}

unsigned int ub_knobs_count(void)
{
	return ARRAY_SIZE(ub_knob_names);
}

/*
 * Publishes the timeouts of intf's *_timeout_ms files: get(owner, i) reads knob
 * i, set(owner, i, ms) changes it (0 or -EINVAL); release(owner) is called once
 * when the interface is unbound (also when this fails).
 */
int ub_knobs_set(struct usb_interface *intf, const void *owner,
		 unsigned int (*get)(const void *owner, unsigned int index),
		 int (*set)(const void *owner, unsigned int index, unsigned int ms),
		 void (*release)(const void *owner))
{
	struct ub_knobs *k;

	k = devres_alloc(ub_knobs_release, sizeof(*k), GFP_KERNEL);
	if (!k) {
		release(owner);
		return -ENOMEM;
	}
	k->owner = owner;
	k->get = get;
	k->set = set;
	k->release = release;
	devres_add(&intf->dev, k);
	return 0;
}

unsigned int ub_stats_count(void)
{
	return ARRAY_SIZE(ub_stat_names);
}

/*
 * Publishes counters for intf's ub_stats/ files: read(owner, i) gives counter i;
 * release(owner) is called once when the interface is unbound (also when this
 * fails, so the caller's reference is consumed either way).
 */
int ub_stats_set(struct usb_interface *intf, const void *owner,
		 u64 (*read)(const void *owner, unsigned int index),
		 void (*release)(const void *owner))
{
	struct ub_stats *st;

	st = devres_alloc(ub_stats_release, sizeof(*st), GFP_KERNEL);
	if (!st) {
		release(owner);
		return -ENOMEM;
	}
	st->owner = owner;
	st->read = read;
	st->release = release;
	devres_add(&intf->dev, st);
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
