// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tdx_emu_seamcall_fuzz: issue random SEAMCALLs from ring 0 of L1, on every
 * online CPU at once, for a bounded time, and report what came back.
 *
 * Purpose: the emulated TDX module must answer malformed SEAMCALLs with
 * architectural completion statuses; QEMU must never crash, hang or assert.
 * This module is the L1 side of that check (tests/system/test-seamcall-fuzz.sh
 * judges the statuses and QEMU's survival).
 *
 * Ground rules that keep L1 itself alive while the module is being abused:
 *  - Physical-address operands come from a private pool of pages this module
 *    allocates and never gives back: a leaf that converts a page (TDR, TDCS,
 *    SEPT...) or writes an output structure can only hit those pages.
 *    The other operand choices (random 64-bit values, values below one page,
 *    field IDs, all-ones) are never a 4 KiB-aligned address of L1 RAM except
 *    0, and the first page of RAM is never used by Linux.
 *  - Leaves that end the module's service for everyone (TDH.SYS.SHUTDOWN,
 *    TDH.SYS.DISABLE, TDH.SYS.LP.SHUTDOWN) are never issued.
 * Requires VMX root operation on every CPU, i.e. kvm_intel loaded with TDX
 * (the kernel's own TDX code keeps VMXON while KVM is loaded).
 *
 * Output (console, read by the test): one line per distinct status class
 *   "TDX-EMU-L1: seamcall-fuzz status=0x<class> count=<n>"
 * and a final "TDX-EMU-L1: seamcall-fuzz calls=<n> cpus=<n> seconds=<n>".
 */
#include <linux/cpu.h>
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/prandom.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

static unsigned int seconds = 10;
module_param(seconds, uint, 0444);
MODULE_PARM_DESC(seconds, "how long every CPU keeps issuing SEAMCALLs");
static unsigned long long seed = 1;
module_param(seed, ullong, 0444);
MODULE_PARM_DESC(seed, "seed of the operand generator (per CPU: seed + cpu)");

#define POOL_PAGES      64
#define MAX_CLASSES     128

/* Leaf numbers (Intel TDX module ABI) that stop the module for everyone. */
#define LEAF_SYS_LP_SHUTDOWN    44
#define LEAF_SYS_SHUTDOWN       52
#define LEAF_SYS_DISABLE        69
#define SEAMLDR_BIT             (1ULL << 63)

struct seamcall_regs {
	u64 rax, rcx, rdx, rbx, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15;
};

static u64 pool_pa[POOL_PAGES];
static unsigned int keyid_shift;
static atomic64_t total_calls;
static unsigned int running_cpus;
static DEFINE_SPINLOCK(hist_lock);
static struct { u64 class; u64 count; } hist[MAX_CLASSES];
static unsigned int hist_len, hist_overflow;
static DECLARE_COMPLETION(all_done);
static atomic_t workers_left;

/* SEAMCALL (66 0F 01 CF): every GPR the ABI uses goes in and comes out. */
static u64 do_seamcall(struct seamcall_regs *r)
{
	register u64 r8 asm("r8") = r->r8;
	register u64 r9 asm("r9") = r->r9;
	register u64 r10 asm("r10") = r->r10;
	register u64 r11 asm("r11") = r->r11;
	register u64 r12 asm("r12") = r->r12;
	register u64 r13 asm("r13") = r->r13;
	register u64 r14 asm("r14") = r->r14;
	register u64 r15 asm("r15") = r->r15;
	u64 rax = r->rax, rcx = r->rcx, rdx = r->rdx, rsi = r->rsi, rdi = r->rdi;
	u64 rbx = r->rbx;
	u8 cf;

	asm volatile(".byte 0x66, 0x0f, 0x01, 0xcf\n\t"
		     "setc %[cf]"
		     : [cf] "=qm"(cf), "+a"(rax), "+c"(rcx), "+d"(rdx),
		       "+b"(rbx), "+S"(rsi), "+D"(rdi), "+r"(r8), "+r"(r9),
		       "+r"(r10), "+r"(r11), "+r"(r12), "+r"(r13), "+r"(r14),
		       "+r"(r15)
		     :
		     : "memory", "cc");
	/* VMfailInvalid (CF=1): the SEAM is not there; report it as such. */
	return cf ? ~0ULL : rax;
}

static void record(u64 status)
{
	/* The class is what matters: bits 63:32 (operand ID and details below). */
	u64 class = status == ~0ULL ? status : status & 0xFFFFFFFF00000000ULL;
	unsigned int i;

	spin_lock(&hist_lock);
	for (i = 0; i < hist_len; i++) {
		if (hist[i].class == class) {
			hist[i].count++;
			goto out;
		}
	}
	if (hist_len < MAX_CLASSES) {
		hist[hist_len].class = class;
		hist[hist_len++].count = 1;
	} else {
		hist_overflow++;
	}
out:
	spin_unlock(&hist_lock);
}

/* One operand: mostly shapes the module's checks care about. */
static u64 pick_operand(struct rnd_state *rnd)
{
	u32 sel = prandom_u32_state(rnd) % 10;
	u64 pa = pool_pa[prandom_u32_state(rnd) % POOL_PAGES];
	u64 keyid = prandom_u32_state(rnd) % 8;

	switch (sel) {
	case 0:
	case 1:
	case 2:
		return pa;                                 /* a pool page */
	case 3:
		return pa | (keyid << keyid_shift);        /* with a KeyID */
	case 4:
		return pa + (prandom_u32_state(rnd) & 0xFFF); /* misaligned */
	case 5:
		return 1 + prandom_u32_state(rnd) % 0xFFF; /* small, unaligned */
	case 6:
		return 0;
	case 7:
		return ~0ULL;
	case 8:
		/* Shaped like a metadata field ID (context, class, sequence). */
		return ((u64)(prandom_u32_state(rnd) & 0xF) << 56) |
		       ((u64)(prandom_u32_state(rnd) & 0x3) << 52) |
		       (prandom_u32_state(rnd) & 0xFFFF);
	default:
		/* Random, with the top bit forced so it is no RAM address. */
		return ((u64)prandom_u32_state(rnd) << 32 |
			prandom_u32_state(rnd)) | (1ULL << 62);
	}
}

static u64 pick_leaf(struct rnd_state *rnd)
{
	u32 sel = prandom_u32_state(rnd) % 16;
	u64 leaf;

	do {
		if (sel < 12)
			leaf = prandom_u32_state(rnd) % 72;       /* known range */
		else if (sel < 13)
			leaf = prandom_u32_state(rnd) & 0xFFFF;   /* any leaf */
		else if (sel < 14)                             /* bad version */
			leaf = (prandom_u32_state(rnd) % 72) |
			       ((u64)(prandom_u32_state(rnd) & 0xFF) << 16);
		else if (sel < 15)                             /* reserved bits */
			leaf = (prandom_u32_state(rnd) % 72) |
			       ((u64)prandom_u32_state(rnd) << 24);
		else
			leaf = SEAMLDR_BIT | (prandom_u32_state(rnd) % 4);
		sel = prandom_u32_state(rnd) % 12;
	} while ((leaf & 0xFFFFFFFFULL) == LEAF_SYS_SHUTDOWN ||
		 (leaf & 0xFFFFFFFFULL) == LEAF_SYS_DISABLE ||
		 (leaf & 0xFFFFFFFFULL) == LEAF_SYS_LP_SHUTDOWN);
	return leaf;
}

static int fuzz_thread(void *arg)
{
	unsigned long cpu = (unsigned long)arg;
	unsigned long end = jiffies + seconds * HZ;
	struct rnd_state rnd;
	struct seamcall_regs r;
	u64 n = 0;

	prandom_seed_state(&rnd, seed + cpu);
	while (time_before(jiffies, end)) {
		r.rax = pick_leaf(&rnd);
		r.rcx = pick_operand(&rnd);
		r.rdx = pick_operand(&rnd);
		r.rbx = pick_operand(&rnd);
		r.rsi = pick_operand(&rnd);
		r.rdi = pick_operand(&rnd);
		r.r8 = pick_operand(&rnd);
		r.r9 = pick_operand(&rnd);
		r.r10 = pick_operand(&rnd);
		r.r11 = pick_operand(&rnd);
		r.r12 = pick_operand(&rnd);
		r.r13 = pick_operand(&rnd);
		r.r14 = pick_operand(&rnd);
		r.r15 = pick_operand(&rnd);
		record(do_seamcall(&r));
		n++;
		if (!(n & 63))
			cond_resched();
	}
	atomic64_add(n, &total_calls);
	if (atomic_dec_and_test(&workers_left))
		complete(&all_done);
	return 0;
}

static int __init fuzz_init(void)
{
	unsigned int cpu, i;

	/* KeyID bits sit just above the CPU's reduced MAXPHYADDR. */
	keyid_shift = boot_cpu_data.x86_phys_bits;
	for (i = 0; i < POOL_PAGES; i++) {
		struct page *p = alloc_page(GFP_KERNEL | __GFP_ZERO);

		if (!p)
			return -ENOMEM;
		pool_pa[i] = page_to_phys(p);
	}
	pr_info("TDX-EMU-L1: seamcall-fuzz start seconds=%u seed=%llu keyid_shift=%u\n",
		seconds, seed, keyid_shift);

	cpus_read_lock();
	running_cpus = num_online_cpus();
	atomic_set(&workers_left, running_cpus);
	for_each_online_cpu(cpu) {
		struct task_struct *t;

		t = kthread_create_on_cpu(fuzz_thread, (void *)(unsigned long)cpu,
					  cpu, "seamcall-fuzz/%u");
		if (IS_ERR(t)) {
			cpus_read_unlock();
			return PTR_ERR(t);
		}
		wake_up_process(t);
	}
	cpus_read_unlock();
	wait_for_completion(&all_done);

	for (i = 0; i < hist_len; i++)
		pr_info("TDX-EMU-L1: seamcall-fuzz status=0x%016llx count=%llu\n",
			hist[i].class, hist[i].count);
	pr_info("TDX-EMU-L1: seamcall-fuzz calls=%llu cpus=%u seconds=%u overflow=%u\n",
		(u64)atomic64_read(&total_calls), running_cpus, seconds,
		hist_overflow);
	/*
	 * Stay loaded: the pool pages may now belong to the module (converted
	 * by a random leaf), so they must never go back to the page allocator.
	 */
	return 0;
}
module_init(fuzz_init);

MODULE_DESCRIPTION("tdx-emu test: random SEAMCALLs from ring 0");
MODULE_LICENSE("GPL");
