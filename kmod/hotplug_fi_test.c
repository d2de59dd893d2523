// SPDX-License-Identifier: GPL-2.0
/*
 * hotplug_fi_test: a test module for hotplug-fi's real-kernel oracle.
 *
 * It registers CPU hotplug states and instances on command, runs the
 * callback behaviours of cases/README.md (alloc, free, sleep, lock NAME,
 * fail -ERRNO [on cpu N] [on call N]) and makes the kernel-internal calls a
 * module can reach (cpu_hotplug_disable/enable, the smp_call_function
 * family, kmem_cache_*, stop_machine). It is driven through debugfs:
 *
 *   /sys/kernel/debug/hotplug_fi/ctl    one command per write; the write
 *                                       returns the kernel's errno
 *   /sys/kernel/debug/hotplug_fi/log    one "@@kmod " line per callback,
 *                                       cross-CPU function and command
 *   /sys/kernel/debug/hotplug_fi/slots  the registered slots
 *
 * module_init only creates the debugfs files: every registration is a
 * command, so a failing registration never fails init_module (which
 * busybox's insmod would retry). kmod/README.md has the commands, the log
 * format, what is left out and why, and how to build it by hand.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <uapi/linux/sched/types.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/stop_machine.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#define NSLOTS 16
#define NAME_LEN 32
#define INST_LEN 16
#define MAX_INSTS 16
#define MAX_EFFECTS 8
#define NLOCKS 8
#define NLABELS 32
#define NCACHES 8
#define NCSDS 8
#define LOG_SIZE (2 << 20)
#define LINE_LEN 320
#define CMD_LEN 256
#define NOTES_LEN 96
#define DEFER_MAX 64
/* slot->state while a setup at a dynamic base has not returned yet */
#define STATE_PENDING (-1)

/* ---- the log ---------------------------------------------------------- */

static char log_buf[LOG_SIZE];
static size_t log_len;
static unsigned long log_lost;
static DEFINE_SPINLOCK(log_lock);

/* Appends one line (a newline is added); a full log counts it as lost. */
static __printf(1, 2) void log_line(const char *fmt, ...)
{
	char line[LINE_LEN];
	unsigned long flags;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = vscnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	spin_lock_irqsave(&log_lock, flags);
	if (log_len + n <= LOG_SIZE) {
		memcpy(log_buf + log_len, line, n);
		log_len += n;
	} else {
		log_lost++;
	}
	spin_unlock_irqrestore(&log_lock, flags);
}

/* A task name as one log field: no spaces or control characters. */
static void comm_field(char *out, const char *comm)
{
	int i;

	for (i = 0; i < TASK_COMM_LEN - 1 && comm[i]; i++)
		out[i] = (comm[i] > ' ' && comm[i] <= '~') ? comm[i] : '_';
	if (i == 0)
		out[i++] = '-';
	out[i] = '\0';
}

/* The context a function runs in, captured on entry. */
struct ctx {
	unsigned int cpu;
	int irqs;
	unsigned int preempt;
	pid_t pid;
	char comm[TASK_COMM_LEN];
};

static void ctx_now(struct ctx *c)
{
	char comm[TASK_COMM_LEN];

	c->cpu = raw_smp_processor_id();
	c->irqs = irqs_disabled() ? 1 : 0;
	c->preempt = preempt_count();
	c->pid = task_pid_nr(current);
	memcpy(comm, current->comm, TASK_COMM_LEN);
	comm[TASK_COMM_LEN - 1] = '\0';
	comm_field(c->comm, comm);
}

/* ---- interned names: labels of cross-CPU functions and lock names ----- */

static char labels[NLABELS][NAME_LEN];
static int nlabels;
static DEFINE_MUTEX(label_lock);

/* A stable copy of a function label (it outlives the command). */
static const char *intern_label(const char *name)
{
	const char *found = NULL;
	int i;

	mutex_lock(&label_lock);
	for (i = 0; i < nlabels; i++)
		if (!strcmp(labels[i], name))
			found = labels[i];
	if (!found && nlabels < NLABELS) {
		strscpy(labels[nlabels], name, NAME_LEN);
		found = labels[nlabels++];
	}
	mutex_unlock(&label_lock);
	return found;
}

struct named_lock {
	char name[NAME_LEN];
	struct mutex lock;
};

static struct named_lock locks[NLOCKS];
static int nlocks;

/* The module mutex called NAME, made on first use (under ctl_lock). */
static int lock_index(const char *name)
{
	int i;

	for (i = 0; i < nlocks; i++)
		if (!strcmp(locks[i].name, name))
			return i;
	if (nlocks == NLOCKS)
		return -ENOSPC;
	strscpy(locks[nlocks].name, name, NAME_LEN);
	mutex_init(&locks[nlocks].lock);
	return nlocks++;
}

/* ---- slots, behaviours, instances ------------------------------------- */

enum effect_kind { EFF_ALLOC, EFF_FREE, EFF_SLEEP, EFF_LOCK };

struct effect {
	enum effect_kind kind;
	int lock;
};

struct behaviour {
	int n;
	struct effect e[MAX_EFFECTS];
	bool fail;
	int err;
	int on_cpu;		/* -1: any CPU */
	unsigned int on_call;	/* 0: any call */
};

struct slot;

struct inst {
	struct hlist_node node;
	struct list_head link;
	struct slot *slot;
	char name[INST_LEN];
	void * __percpu *data;
};

struct slot {
	int idx;
	int state;		/* 0: not registered */
	bool multi;
	bool nostartup, noteardown;
	char name[NAME_LEN];
	struct behaviour beh[2];	/* [0] teardown, [1] startup */
	atomic_t calls[2];
	void * __percpu *data;
	struct list_head insts;
	int ninsts;
};

static struct slot slots[NSLOTS];
/* Guards slots[].beh against a callback reading it while `behave` writes. */
static DEFINE_SPINLOCK(cfg_lock);
/* One command at a time. Callbacks never take it. */
static DEFINE_MUTEX(ctl_lock);
static unsigned int cmd_seq;

/* A callback's line, held back while its state number is not known yet. */
struct cb_rec {
	bool up;
	int slot;
	char inst[INST_LEN];
	unsigned int target;
	struct ctx ctx;
	int ret;
	char notes[NOTES_LEN];
};

static struct cb_rec defer_recs[DEFER_MAX];
static int defer_n;
static unsigned long defer_lost;

static void log_cb(const struct cb_rec *r, int state)
{
	char st[12];

	if (state > 0)
		snprintf(st, sizeof(st), "%d", state);
	else
		strscpy(st, "?", sizeof(st));
	log_line("@@kmod cb %s %s %d %s %u %u %d 0x%x %d %s %d %s",
		 r->up ? "up" : "down", st, r->slot, r->inst, r->target,
		 r->ctx.cpu, r->ctx.irqs, r->ctx.preempt, r->ctx.pid,
		 r->ctx.comm, r->ret, r->notes[0] ? r->notes : "-");
}

/* Writes the held-back lines with the state setup returned (or `?`). */
static void flush_deferred(int state)
{
	unsigned long flags, lost;
	int i, n;

	spin_lock_irqsave(&log_lock, flags);
	n = defer_n;
	lost = defer_lost;
	defer_n = 0;
	defer_lost = 0;
	spin_unlock_irqrestore(&log_lock, flags);
	for (i = 0; i < n; i++)
		log_cb(&defer_recs[i], state);
	if (lost)
		log_line("@@kmod lost %lu", lost);
}

static void note(char *notes, const char *what)
{
	if (notes[0])
		strlcat(notes, ",", NOTES_LEN);
	strlcat(notes, what, NOTES_LEN);
}

/* One effect of a behaviour, for `cpu`, in the context `atomic` says. */
static void run_effect(const struct effect *e, void **data, bool atomic,
		       char *notes)
{
	char what[NAME_LEN + 16];

	switch (e->kind) {
	case EFF_ALLOC:
		if (*data) {
			note(notes, "alloc:double");
			break;
		}
		*data = kzalloc(64, atomic ? GFP_ATOMIC : GFP_KERNEL);
		note(notes, *data ? "alloc" : "alloc:enomem");
		break;
	case EFF_FREE:
		if (!*data) {
			note(notes, "free:double");
			break;
		}
		kfree(*data);
		*data = NULL;
		note(notes, "free");
		break;
	case EFF_SLEEP:
		if (atomic) {
			note(notes, "sleep:atomic");
			break;
		}
		might_sleep();
		msleep(1);
		note(notes, "sleep");
		break;
	case EFF_LOCK:
		snprintf(what, sizeof(what), "lock:%s%s", locks[e->lock].name,
			 atomic ? ":atomic" : "");
		if (!atomic) {
			mutex_lock(&locks[e->lock].lock);
			mutex_unlock(&locks[e->lock].lock);
		}
		note(notes, what);
		break;
	}
}

/* Every callback of the module: slot `s` (instance `in`), for `cpu`. */
static int cb_run(struct slot *s, struct inst *in, bool up, unsigned int cpu)
{
	struct cb_rec r = { .up = up, .slot = s->idx, .target = cpu };
	bool atomic = irqs_disabled() || in_atomic();
	struct behaviour b;
	unsigned long flags;
	unsigned int call;
	void **data;
	int i, state;

	ctx_now(&r.ctx);
	strscpy(r.inst, in ? in->name : "-", INST_LEN);
	spin_lock_irqsave(&cfg_lock, flags);
	b = s->beh[up];
	spin_unlock_irqrestore(&cfg_lock, flags);
	call = atomic_inc_return(&s->calls[up]);
	if (b.fail && (b.on_cpu < 0 || (unsigned int)b.on_cpu == cpu) &&
	    (!b.on_call || b.on_call == call)) {
		r.ret = b.err;
		note(r.notes, "fail");
	} else {
		data = per_cpu_ptr(in ? in->data : s->data, cpu);
		for (i = 0; i < b.n; i++)
			run_effect(&b.e[i], data, atomic, r.notes);
	}
	state = READ_ONCE(s->state);
	if (state == STATE_PENDING) {
		spin_lock_irqsave(&log_lock, flags);
		if (defer_n < DEFER_MAX)
			defer_recs[defer_n++] = r;
		else
			defer_lost++;
		spin_unlock_irqrestore(&log_lock, flags);
	} else {
		log_cb(&r, state);
	}
	return r.ret;
}

#define SLOT_CBS(n)							\
static int slot##n##_startup(unsigned int cpu)				\
{									\
	return cb_run(&slots[n], NULL, true, cpu);			\
}									\
static int slot##n##_teardown(unsigned int cpu)				\
{									\
	return cb_run(&slots[n], NULL, false, cpu);			\
}

SLOT_CBS(0) SLOT_CBS(1) SLOT_CBS(2) SLOT_CBS(3)
SLOT_CBS(4) SLOT_CBS(5) SLOT_CBS(6) SLOT_CBS(7)
SLOT_CBS(8) SLOT_CBS(9) SLOT_CBS(10) SLOT_CBS(11)
SLOT_CBS(12) SLOT_CBS(13) SLOT_CBS(14) SLOT_CBS(15)

typedef int (*single_cb)(unsigned int cpu);

static const single_cb single_startup[NSLOTS] = {
	slot0_startup, slot1_startup, slot2_startup, slot3_startup,
	slot4_startup, slot5_startup, slot6_startup, slot7_startup,
	slot8_startup, slot9_startup, slot10_startup, slot11_startup,
	slot12_startup, slot13_startup, slot14_startup, slot15_startup,
};

static const single_cb single_teardown[NSLOTS] = {
	slot0_teardown, slot1_teardown, slot2_teardown, slot3_teardown,
	slot4_teardown, slot5_teardown, slot6_teardown, slot7_teardown,
	slot8_teardown, slot9_teardown, slot10_teardown, slot11_teardown,
	slot12_teardown, slot13_teardown, slot14_teardown, slot15_teardown,
};

static int multi_startup(unsigned int cpu, struct hlist_node *node)
{
	struct inst *in = hlist_entry(node, struct inst, node);

	return cb_run(in->slot, in, true, cpu);
}

static int multi_teardown(unsigned int cpu, struct hlist_node *node)
{
	struct inst *in = hlist_entry(node, struct inst, node);

	return cb_run(in->slot, in, false, cpu);
}

/* Frees per-CPU data a callback left, one `leftover` line each. */
static void free_data(void * __percpu *data, int slot, const char *inst)
{
	unsigned int cpu;
	void **p;

	if (!data)
		return;
	for_each_possible_cpu(cpu) {
		p = per_cpu_ptr(data, cpu);
		if (*p) {
			log_line("@@kmod leftover %d %s %u", slot, inst, cpu);
			kfree(*p);
			*p = NULL;
		}
	}
	free_percpu(data);
}

static void free_inst(struct inst *in)
{
	free_data(in->data, in->slot->idx, in->name);
	kfree(in);
}

/* After the kernel dropped the state: the slot's instances are gone. */
static void forget_instances(struct slot *s)
{
	struct inst *in, *tmp;

	list_for_each_entry_safe(in, tmp, &s->insts, link) {
		list_del(&in->link);
		free_inst(in);
	}
	s->ninsts = 0;
}

/* ---- parsing ---------------------------------------------------------- */

static char *next_tok(char **p)
{
	char *t;

	do {
		t = strsep(p, " \t");
	} while (t && !*t);
	return t;
}

static const struct { const char *name; int err; } errnos[] = {
	{ "EPERM", EPERM }, { "ENOENT", ENOENT }, { "EINTR", EINTR },
	{ "EIO", EIO }, { "ENXIO", ENXIO }, { "EAGAIN", EAGAIN },
	{ "ENOMEM", ENOMEM }, { "EBUSY", EBUSY }, { "EEXIST", EEXIST },
	{ "ENODEV", ENODEV }, { "EINVAL", EINVAL }, { "ENOSPC", ENOSPC },
	{ "ERANGE", ERANGE }, { "EOPNOTSUPP", EOPNOTSUPP },
	{ "ECANCELED", ECANCELED },
};

/* `-12`, `-ENOMEM` or `ENOMEM` as a negative errno; 0 if it is none. */
static int parse_errno(const char *t)
{
	const char *bare = *t == '-' ? t + 1 : t;
	unsigned int i;
	int v;

	for (i = 0; i < ARRAY_SIZE(errnos); i++)
		if (!strcmp(bare, errnos[i].name))
			return -errnos[i].err;
	if (kstrtoint(t, 10, &v) || v >= 0 || v < -MAX_ERRNO)
		return 0;
	return v;
}

static int parse_uint(const char *t, unsigned int max, unsigned int *out)
{
	if (!t || kstrtouint(t, 10, out) || *out >= max)
		return -EINVAL;
	return 0;
}

static struct slot *parse_slot(char **p)
{
	unsigned int i;

	if (parse_uint(next_tok(p), NSLOTS, &i))
		return NULL;
	return &slots[i];
}

/* `fail -ERRNO [on cpu N] [on call N]`, its words after `fail`. */
static int parse_fail(char *p, struct behaviour *b)
{
	char *t = next_tok(&p), *what;
	unsigned int n;

	b->err = t ? parse_errno(t) : 0;
	if (!b->err)
		return -EINVAL;
	b->fail = true;
	b->on_cpu = -1;
	b->on_call = 0;
	while ((t = next_tok(&p))) {
		what = next_tok(&p);
		if (strcmp(t, "on") || !what || parse_uint(next_tok(&p), UINT_MAX, &n))
			return -EINVAL;
		if (!strcmp(what, "cpu") && n < nr_cpu_ids)
			b->on_cpu = n;
		else if (!strcmp(what, "call") && n > 0)
			b->on_call = n;
		else
			return -EINVAL;
	}
	return 0;
}

/* Comma-separated effects, as cases/README.md's behaviours. */
static int parse_behaviour(char *p, struct behaviour *b)
{
	char *part, *w, *rest;
	int ret;

	memset(b, 0, sizeof(*b));
	b->on_cpu = -1;
	while ((part = strsep(&p, ","))) {
		rest = part;
		w = next_tok(&rest);
		if (!w)
			return -EINVAL;
		if (!strcmp(w, "fail")) {
			ret = parse_fail(rest, b);
			if (ret)
				return ret;
			continue;
		}
		if (!strcmp(w, "cpus_read_lock"))
			return -EOPNOTSUPP;
		if (!strcmp(w, "lock")) {
			w = next_tok(&rest);
			if (!w || b->n == MAX_EFFECTS)
				return -EINVAL;
			ret = lock_index(w);
			if (ret < 0)
				return ret;
			b->e[b->n].kind = EFF_LOCK;
			b->e[b->n++].lock = ret;
		} else if (!strcmp(w, "ok")) {
			/* nothing */
		} else if (!strcmp(w, "alloc") || !strcmp(w, "free") ||
			   !strcmp(w, "sleep")) {
			if (b->n == MAX_EFFECTS)
				return -EINVAL;
			b->e[b->n++].kind = w[0] == 'a' ? EFF_ALLOC :
					    w[0] == 'f' ? EFF_FREE : EFF_SLEEP;
		} else {
			return -EINVAL;
		}
		if (next_tok(&rest))
			return -EINVAL;
	}
	return 0;
}

/* An optional trailing `nocalls`; anything else is an error. */
static int parse_nocalls(char **p, bool *nocalls)
{
	char *t = next_tok(p);

	*nocalls = false;
	if (!t)
		return 0;
	if (strcmp(t, "nocalls") || next_tok(p))
		return -EINVAL;
	*nocalls = true;
	return 0;
}

/* ---- cpuhp commands --------------------------------------------------- */

static int cmd_setup(char *p)
{
	struct slot *s = parse_slot(&p);
	char *at = next_tok(&p), *name = next_tok(&p), *t;
	bool multi = false, nocalls = false, dyn;
	int state, ret;

	if (!s || !at || !name)
		return -EINVAL;
	while ((t = next_tok(&p))) {
		if (!strcmp(t, "multi"))
			multi = true;
		else if (!strcmp(t, "nocalls"))
			nocalls = true;
		else
			return -EINVAL;
	}
	/* cpuhp_setup_state_multi() never calls: there is no _nocalls twin. */
	if (multi && nocalls)
		return -EINVAL;
	if (!strcmp(at, "online"))
		state = CPUHP_AP_ONLINE_DYN;
	else if (!strcmp(at, "prepare"))
		state = CPUHP_BP_PREPARE_DYN;
	else if (kstrtoint(at, 10, &state))
		return -EINVAL;
	if (s->state)
		return -EBUSY;
	if (strlen(name) >= NAME_LEN)
		return -EINVAL;
	if (!s->data) {
		s->data = alloc_percpu(void *);
		if (!s->data)
			return -ENOMEM;
	}
	strscpy(s->name, name, NAME_LEN);
	s->multi = multi;
	dyn = state == CPUHP_AP_ONLINE_DYN || state == CPUHP_BP_PREPARE_DYN;
	WRITE_ONCE(s->state, dyn ? STATE_PENDING : state);
	if (multi)
		ret = cpuhp_setup_state_multi(state, s->name,
					      s->nostartup ? NULL : multi_startup,
					      s->noteardown ? NULL : multi_teardown);
	else if (nocalls)
		ret = cpuhp_setup_state_nocalls(state, s->name,
						s->nostartup ? NULL : single_startup[s->idx],
						s->noteardown ? NULL : single_teardown[s->idx]);
	else
		ret = cpuhp_setup_state(state, s->name,
					s->nostartup ? NULL : single_startup[s->idx],
					s->noteardown ? NULL : single_teardown[s->idx]);
	if (ret < 0) {
		WRITE_ONCE(s->state, 0);
		flush_deferred(dyn ? 0 : state);
		return ret;
	}
	WRITE_ONCE(s->state, dyn ? ret : state);
	flush_deferred(s->state);
	log_line("@@kmod slot %d %d %s", s->idx, s->state, s->name);
	return ret;
}

static int cmd_remove(char *p, bool multi_call)
{
	struct slot *s = parse_slot(&p);
	bool nocalls = false;

	if (!s)
		return -EINVAL;
	if (!multi_call && parse_nocalls(&p, &nocalls))
		return -EINVAL;
	if (multi_call && next_tok(&p))
		return -EINVAL;
	/* The kernel BUG()s on a state outside its table: refuse first. */
	if (s->state <= 0)
		return -ENOENT;
	if (multi_call)
		cpuhp_remove_multi_state(s->state);
	else if (nocalls)
		cpuhp_remove_state_nocalls(s->state);
	else
		cpuhp_remove_state(s->state);
	/* cpuhp_store_callbacks() emptied the instance list with the state. */
	forget_instances(s);
	s->state = 0;
	return 0;
}

static struct inst *find_inst(struct slot *s, const char *name)
{
	struct inst *in;

	list_for_each_entry(in, &s->insts, link)
		if (!strcmp(in->name, name))
			return in;
	return NULL;
}

static int cmd_add(char *p)
{
	struct slot *s = parse_slot(&p);
	char *name = next_tok(&p);
	struct inst *in;
	bool nocalls;
	int ret;

	if (!s || !name || parse_nocalls(&p, &nocalls) || strlen(name) >= INST_LEN)
		return -EINVAL;
	if (s->state <= 0)
		return -ENOENT;
	if (find_inst(s, name))
		return -EEXIST;
	if (s->ninsts == MAX_INSTS)
		return -ENOSPC;
	in = kzalloc(sizeof(*in), GFP_KERNEL);
	if (!in)
		return -ENOMEM;
	in->data = alloc_percpu(void *);
	if (!in->data) {
		kfree(in);
		return -ENOMEM;
	}
	in->slot = s;
	strscpy(in->name, name, INST_LEN);
	if (nocalls)
		ret = cpuhp_state_add_instance_nocalls(s->state, &in->node);
	else
		ret = cpuhp_state_add_instance(s->state, &in->node);
	if (ret) {
		free_inst(in);
		return ret;
	}
	list_add_tail(&in->link, &s->insts);
	s->ninsts++;
	return 0;
}

static int cmd_del(char *p)
{
	struct slot *s = parse_slot(&p);
	char *name = next_tok(&p);
	struct inst *in;
	bool nocalls;
	int ret;

	if (!s || !name || parse_nocalls(&p, &nocalls))
		return -EINVAL;
	if (s->state <= 0)
		return -ENOENT;
	in = find_inst(s, name);
	if (!in)
		return -ENOENT;
	if (nocalls)
		ret = cpuhp_state_remove_instance_nocalls(s->state, &in->node);
	else
		ret = cpuhp_state_remove_instance(s->state, &in->node);
	if (ret)
		return ret;
	list_del(&in->link);
	s->ninsts--;
	free_inst(in);
	return 0;
}

static int cmd_behave(char *p)
{
	struct slot *s = parse_slot(&p);
	char *dir = next_tok(&p);
	struct behaviour b;
	unsigned long flags;
	int up, ret;

	if (!s || !dir || !p)
		return -EINVAL;
	if (!strcmp(dir, "up"))
		up = 1;
	else if (!strcmp(dir, "down"))
		up = 0;
	else
		return -EINVAL;
	ret = parse_behaviour(p, &b);
	if (ret)
		return ret;
	spin_lock_irqsave(&cfg_lock, flags);
	s->beh[up] = b;
	spin_unlock_irqrestore(&cfg_lock, flags);
	return 0;
}

static int cmd_nocb(char *p, bool startup)
{
	struct slot *s = parse_slot(&p);

	if (!s || next_tok(&p))
		return -EINVAL;
	if (s->state)
		return -EBUSY;
	if (startup)
		s->nostartup = true;
	else
		s->noteardown = true;
	return 0;
}

/* ---- kernel-internal calls -------------------------------------------- */

static int hotplug_disabled;

static int cmd_hotplug(char *p, bool disable)
{
	if (next_tok(&p))
		return -EINVAL;
	if (disable) {
		cpu_hotplug_disable();
		hotplug_disabled++;
	} else {
		cpu_hotplug_enable();
		if (hotplug_disabled)
			hotplug_disabled--;
	}
	return 0;
}

static void log_fn(const char *label)
{
	struct ctx c;

	ctx_now(&c);
	log_line("@@kmod fn %s %u %d 0x%x %d %s", label, c.cpu, c.irqs,
		 c.preempt, c.pid, c.comm);
}

static void ipi_fn(void *info)
{
	log_fn(info);
}

struct async_csd {
	call_single_data_t csd;
	const char *label;
	atomic_t inflight;
};

static struct async_csd csds[NCSDS];
static int ncsds;

static void async_fn(void *info)
{
	struct async_csd *a = info;

	log_fn(a->label);
	atomic_dec(&a->inflight);
}

/* The optional FUNC before the last word: `[FUNC] WAIT`. */
static int parse_func_wait(char **p, const char **label, int *wait)
{
	char *a = next_tok(p), *b = next_tok(p);
	unsigned int w;

	if (!a || next_tok(p))
		return -EINVAL;
	*label = intern_label(b ? a : "fn");
	if (!*label || parse_uint(b ? b : a, 2, &w))
		return -EINVAL;
	*wait = w;
	return 0;
}

static int cmd_scf_single(char *p)
{
	char *cpu = next_tok(&p);
	const char *label;
	int c, wait;

	if (!cpu || kstrtoint(cpu, 10, &c) || parse_func_wait(&p, &label, &wait))
		return -EINVAL;
	return smp_call_function_single(c, ipi_fn, (void *)label, wait);
}

static int cmd_scf_async(char *p)
{
	char *cpu = next_tok(&p), *name = next_tok(&p);
	struct async_csd *a = NULL;
	const char *label;
	int c, i, ret;

	if (!cpu || kstrtoint(cpu, 10, &c) || next_tok(&p))
		return -EINVAL;
	label = intern_label(name ? name : "fn");
	if (!label)
		return -ENOSPC;
	for (i = 0; i < ncsds; i++)
		if (csds[i].label == label)
			a = &csds[i];
	if (!a) {
		if (ncsds == NCSDS)
			return -ENOSPC;
		a = &csds[ncsds++];
		a->label = label;
		atomic_set(&a->inflight, 0);
		INIT_CSD(&a->csd, async_fn, a);
	}
	atomic_inc(&a->inflight);
	ret = smp_call_function_single_async(c, &a->csd);
	if (ret)
		atomic_dec(&a->inflight);
	return ret;
}

static int cmd_scf_many(char *p)
{
	char *list = next_tok(&p);
	cpumask_var_t mask;
	const char *label;
	int wait, ret;

	if (!list || parse_func_wait(&p, &label, &wait))
		return -EINVAL;
	if (!zalloc_cpumask_var(&mask, GFP_KERNEL))
		return -ENOMEM;
	ret = cpulist_parse(list, mask);
	if (!ret) {
		/* The caller must have preemption disabled. */
		preempt_disable();
		smp_call_function_many(mask, ipi_fn, (void *)label, wait);
		preempt_enable();
	}
	free_cpumask_var(mask);
	return ret;
}

static int cmd_scf_all(char *p, bool local)
{
	const char *label;
	int wait;

	if (parse_func_wait(&p, &label, &wait))
		return -EINVAL;
	if (local)
		on_each_cpu(ipi_fn, (void *)label, wait);
	else
		smp_call_function(ipi_fn, (void *)label, wait);
	return 0;
}

static int stop_fn(void *info)
{
	log_fn(info);
	return 0;
}

static int cmd_stop_machine(char *p)
{
	char *name = next_tok(&p);
	const char *label;

	if (next_tok(&p))
		return -EINVAL;
	label = intern_label(name ? name : "stop_fn");
	if (!label)
		return -ENOSPC;
	return stop_machine(stop_fn, (void *)label, NULL);
}

/* call_rcu: a callback that logs where it ran and frees itself. */
struct rcu_cb {
	struct rcu_head head;
};

static void rcu_fn(struct rcu_head *head)
{
	log_fn("call_rcu");
	kfree(container_of(head, struct rcu_cb, head));
}

static int cmd_call_rcu(char *p)
{
	struct rcu_cb *cb;

	if (next_tok(&p))
		return -EINVAL;
	cb = kmalloc(sizeof(*cb), GFP_KERNEL);
	if (!cb)
		return -ENOMEM;
	call_rcu(&cb->head, rcu_fn);
	return 0;
}

static int cmd_synchronize_rcu(char *p)
{
	if (next_tok(&p))
		return -EINVAL;
	synchronize_rcu();
	return 0;
}

struct cache {
	char name[NAME_LEN];
	struct kmem_cache *c;
};

static struct cache caches[NCACHES];

static struct cache *find_cache(const char *name)
{
	int i;

	for (i = 0; i < NCACHES; i++)
		if (caches[i].c && !strcmp(caches[i].name, name))
			return &caches[i];
	return NULL;
}

static int cmd_cache(char *p, char op)
{
	char *name = next_tok(&p), label[NAME_LEN + 20];
	struct cache *c;
	void *obj;
	int i;

	if (!name || next_tok(&p) || strlen(name) >= NAME_LEN)
		return -EINVAL;
	if (op == 'c') {
		i = 0;
		while (i < NCACHES && caches[i].c)
			i++;
		if (i == NCACHES)
			return -ENOSPC;
		strscpy(caches[i].name, name, NAME_LEN);
		caches[i].c = kmem_cache_create(caches[i].name, 64, 0, 0, NULL);
		return caches[i].c ? 0 : -ENOMEM;
	}
	c = find_cache(name);
	if (!c)
		return -EINVAL;
	if (op == 'd') {
		kmem_cache_destroy(c->c);
		c->c = NULL;
		return 0;
	}
	obj = kmem_cache_alloc(c->c, GFP_KERNEL);
	if (!obj)
		return -ENOMEM;
	snprintf(label, sizeof(label), "kmem_cache_alloc:%s", name);
	log_fn(label);
	kmem_cache_free(c->c, obj);
	return 0;
}

/* ---- deadline bandwidth ------------------------------------------------ */

/*
 * dl_load N RUNTIME_US PERIOD_US: N kthreads admitted as SCHED_DEADLINE
 * tasks, each sleeping; their admitted bandwidth stays in the root
 * domain's total_bw, so a CPU offline that would leave too little
 * capacity fails in sched_cpu_deactivate's dl_bw_check_overflow (-EBUSY).
 * dl_unload stops them and frees the bandwidth.
 */
#define NDL 16

static struct task_struct *dl_tasks[NDL];

static int dl_fn(void *unused)
{
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}
		schedule_timeout(HZ);
	}
	return 0;
}

static void dl_unload(void)
{
	int i;

	for (i = 0; i < NDL; i++) {
		if (dl_tasks[i]) {
			kthread_stop(dl_tasks[i]);
			put_task_struct(dl_tasks[i]);
			dl_tasks[i] = NULL;
		}
	}
}

static int cmd_dl_load(char *p)
{
	char *n = next_tok(&p), *rt = next_tok(&p), *per = next_tok(&p);
	unsigned int count, runtime, period;
	int i, ret;

	if (!n || !rt || !per || next_tok(&p) || kstrtouint(n, 10, &count) || kstrtouint(rt, 10, &runtime) ||
	    kstrtouint(per, 10, &period) || !count || count > NDL || !runtime || runtime > period)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		struct sched_attr attr = {
			.size = sizeof(attr),
			.sched_policy = SCHED_DEADLINE,
			.sched_runtime = (u64)runtime * NSEC_PER_USEC,
			.sched_deadline = (u64)period * NSEC_PER_USEC,
			.sched_period = (u64)period * NSEC_PER_USEC,
		};
		struct task_struct *t;

		if (dl_tasks[i])
			return -EBUSY;
		t = kthread_create(dl_fn, NULL, "hotplug_fi_dl/%d", i);
		if (IS_ERR(t)) {
			dl_unload();
			return PTR_ERR(t);
		}
		get_task_struct(t);
		dl_tasks[i] = t;
		ret = sched_setattr_nocheck(t, &attr);
		wake_up_process(t);
		if (ret) {
			dl_unload();
			return ret;
		}
	}
	return 0;
}

/* ---- reset and dispatch ----------------------------------------------- */

/* Removes everything the module registered, without calling callbacks. */
static int do_reset(void)
{
	struct inst *in, *tmp;
	struct slot *s;
	int i, waited;

	/* No call_rcu() callback of ours may run after the module is gone. */
	rcu_barrier();
	dl_unload();

	for (i = 0; i < NSLOTS; i++) {
		s = &slots[i];
		if (s->state > 0) {
			list_for_each_entry_safe(in, tmp, &s->insts, link) {
				cpuhp_state_remove_instance_nocalls(s->state, &in->node);
				list_del(&in->link);
				free_inst(in);
			}
			s->ninsts = 0;
			if (s->multi)
				cpuhp_remove_multi_state(s->state);
			else
				cpuhp_remove_state_nocalls(s->state);
		}
		free_data(s->data, s->idx, "-");
		memset(s, 0, sizeof(*s));
		s->idx = i;
		INIT_LIST_HEAD(&s->insts);
	}
	while (hotplug_disabled) {
		cpu_hotplug_enable();
		hotplug_disabled--;
	}
	for (i = 0; i < NCACHES; i++) {
		if (caches[i].c)
			kmem_cache_destroy(caches[i].c);
		caches[i].c = NULL;
	}
	for (i = 0; i < ncsds; i++) {
		for (waited = 0; atomic_read(&csds[i].inflight) && waited < 200; waited++)
			msleep(10);
		if (atomic_read(&csds[i].inflight))
			return -EBUSY;
	}
	return 0;
}

static int dispatch(char *p)
{
	char *cmd = next_tok(&p);
	unsigned long flags;

	if (!cmd)
		return -EINVAL;
	if (!strcmp(cmd, "setup"))
		return cmd_setup(p);
	if (!strcmp(cmd, "remove"))
		return cmd_remove(p, false);
	if (!strcmp(cmd, "remove_multi"))
		return cmd_remove(p, true);
	if (!strcmp(cmd, "add"))
		return cmd_add(p);
	if (!strcmp(cmd, "del"))
		return cmd_del(p);
	if (!strcmp(cmd, "behave"))
		return cmd_behave(p);
	if (!strcmp(cmd, "nostartup"))
		return cmd_nocb(p, true);
	if (!strcmp(cmd, "noteardown"))
		return cmd_nocb(p, false);
	if (!strcmp(cmd, "cpu_hotplug_disable"))
		return cmd_hotplug(p, true);
	if (!strcmp(cmd, "cpu_hotplug_enable"))
		return cmd_hotplug(p, false);
	if (!strcmp(cmd, "smp_call_function_single"))
		return cmd_scf_single(p);
	if (!strcmp(cmd, "smp_call_function_single_async"))
		return cmd_scf_async(p);
	if (!strcmp(cmd, "smp_call_function_many"))
		return cmd_scf_many(p);
	if (!strcmp(cmd, "smp_call_function"))
		return cmd_scf_all(p, false);
	if (!strcmp(cmd, "on_each_cpu"))
		return cmd_scf_all(p, true);
	if (!strcmp(cmd, "stop_machine"))
		return cmd_stop_machine(p);
	if (!strcmp(cmd, "call_rcu"))
		return cmd_call_rcu(p);
	if (!strcmp(cmd, "synchronize_rcu"))
		return cmd_synchronize_rcu(p);
	if (!strcmp(cmd, "dl_load"))
		return cmd_dl_load(p);
	if (!strcmp(cmd, "dl_unload")) {
		if (next_tok(&p))
			return -EINVAL;
		dl_unload();
		return 0;
	}
	if (!strcmp(cmd, "kmem_cache_create"))
		return cmd_cache(p, 'c');
	if (!strcmp(cmd, "kmem_cache_destroy"))
		return cmd_cache(p, 'd');
	if (!strcmp(cmd, "kmem_cache_alloc"))
		return cmd_cache(p, 'a');
	/* Holding cpu_hotplug_lock in a callback deadlocks a real kernel. */
	if (!strcmp(cmd, "cpus_read_lock"))
		return -EOPNOTSUPP;
	if (!strcmp(cmd, "reset"))
		return next_tok(&p) ? -EINVAL : do_reset();
	if (!strcmp(cmd, "mark"))
		return 0;
	if (!strcmp(cmd, "clearlog")) {
		if (next_tok(&p))
			return -EINVAL;
		spin_lock_irqsave(&log_lock, flags);
		log_len = 0;
		log_lost = 0;
		spin_unlock_irqrestore(&log_lock, flags);
		return 0;
	}
	return -EINVAL;
}

/* ---- debugfs ---------------------------------------------------------- */

static ssize_t ctl_write(struct file *file, const char __user *ubuf,
			 size_t count, loff_t *ppos)
{
	char buf[CMD_LEN], text[CMD_LEN];
	struct ctx c;
	size_t n = count;
	int ret;

	if (count >= CMD_LEN)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	strscpy(text, buf, CMD_LEN);
	ctx_now(&c);
	mutex_lock(&ctl_lock);
	ret = dispatch(buf);
	log_line("@@kmod cmd %u %d %s %d %s", ++cmd_seq, c.pid, c.comm, ret, text);
	mutex_unlock(&ctl_lock);
	return ret < 0 ? ret : count;
}

static ssize_t log_read(struct file *file, char __user *ubuf, size_t count,
			loff_t *ppos)
{
	char tail[40];
	size_t len, tlen = 0, n = 0;
	unsigned long flags;
	loff_t pos = *ppos;
	char *tmp;

	if (pos < 0)
		return -EINVAL;
	count = min_t(size_t, count, PAGE_SIZE);
	tmp = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!tmp)
		return -ENOMEM;
	spin_lock_irqsave(&log_lock, flags);
	len = log_len;
	if (log_lost)
		tlen = scnprintf(tail, sizeof(tail), "@@kmod lost %lu\n", log_lost);
	if (pos < len) {
		n = min_t(size_t, count, len - pos);
		memcpy(tmp, log_buf + pos, n);
	} else if (pos < len + tlen) {
		n = min_t(size_t, count, len + tlen - pos);
		memcpy(tmp, tail + (pos - len), n);
	}
	spin_unlock_irqrestore(&log_lock, flags);
	if (n && copy_to_user(ubuf, tmp, n)) {
		kfree(tmp);
		return -EFAULT;
	}
	kfree(tmp);
	*ppos = pos + n;
	return n;
}

static int slots_show(struct seq_file *m, void *v)
{
	struct inst *in;
	int i;

	mutex_lock(&ctl_lock);
	for (i = 0; i < NSLOTS; i++) {
		if (slots[i].state <= 0)
			continue;
		seq_printf(m, "%d %d %s %s", i, slots[i].state, slots[i].name,
			   slots[i].multi ? "multi" : "single");
		list_for_each_entry(in, &slots[i].insts, link)
			seq_printf(m, " %s", in->name);
		seq_putc(m, '\n');
	}
	mutex_unlock(&ctl_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(slots);

static const struct file_operations ctl_fops = {
	.owner = THIS_MODULE,
	.write = ctl_write,
	.llseek = noop_llseek,
};

static const struct file_operations log_fops = {
	.owner = THIS_MODULE,
	.read = log_read,
	.llseek = default_llseek,
};

static struct dentry *dir;

static int __init hotplug_fi_test_init(void)
{
	int i;

	for (i = 0; i < NSLOTS; i++) {
		slots[i].idx = i;
		INIT_LIST_HEAD(&slots[i].insts);
	}
	dir = debugfs_create_dir("hotplug_fi", NULL);
	debugfs_create_file("ctl", 0200, dir, NULL, &ctl_fops);
	debugfs_create_file("log", 0400, dir, NULL, &log_fops);
	debugfs_create_file("slots", 0400, dir, NULL, &slots_fops);
	if (IS_ERR(dir))
		pr_warn("no debugfs (%ld): nothing can drive this module\n",
			PTR_ERR(dir));
	return 0;
}

static void __exit hotplug_fi_test_exit(void)
{
	debugfs_remove_recursive(dir);
	mutex_lock(&ctl_lock);
	if (do_reset())
		pr_warn("an async cross-CPU call is still in flight\n");
	mutex_unlock(&ctl_lock);
}

module_init(hotplug_fi_test_init);
module_exit(hotplug_fi_test_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hotplug-fi's test module: CPU hotplug states and cross-CPU calls on command");
