/* Injection engine and statistics; see inject.h. */
#include <stdio.h>
#include <string.h>

#include "module.h"

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void tdx_inject_init(struct tdx_inject *inj, uint64_t seed)
{
    memset(inj, 0, sizeof(*inj));
    pthread_mutex_init(&inj->mutex, NULL);
    inj->seed = seed;
}

void tdx_inject_fini(struct tdx_module *m)
{
    for (int i = 0; i < TDX_INJECT_MAX_RULES; i++) {
        tdx_inject_release_hold(m, i);
    }
    pthread_mutex_destroy(&m->inject.mutex);
}

int tdx_inject_add_status_rule(struct tdx_module *m,
                               const struct tdx_status_rule *rule,
                               char *err, size_t errlen)
{
    struct tdx_inject *inj = &m->inject;
    int id = -1;

    if (rule->leaf != TDX_INJECT_ANY_LEAF && !tdx_inject_leaf_name(rule->leaf)) {
        snprintf(err, errlen, "leaf %#x is no host leaf (0..%d) and no guest "
                 "leaf (TDX_INJECT_GUEST_LEAF(0..%d)) the module knows",
                 (unsigned)rule->leaf, TDX_MAX_LEAF - 1, TDX_MAX_GUEST_LEAF - 1);
        return -1;
    }
    if ((rule->when == TDX_INJECT_NTH || rule->when == TDX_INJECT_EVERY) &&
        rule->n == 0) {
        snprintf(err, errlen, "nth/every need n >= 1");
        return -1;
    }
    if (rule->when == TDX_INJECT_PROB && !(rule->p >= 0.0 && rule->p <= 1.0)) {
        snprintf(err, errlen, "probability must be within [0, 1]");
        return -1;
    }
    if (rule->when > TDX_INJECT_FIRST) {
        snprintf(err, errlen, "unknown trigger %d", (int)rule->when);
        return -1;
    }
    if (rule->gpa_hi && rule->gpa_hi <= rule->gpa_lo) {
        snprintf(err, errlen, "empty GPA range");
        return -1;
    }
    if (rule->stretch_retry_ms &&
        rule->leaf != TDH_MEM_RANGE_BLOCK && rule->leaf != TDH_MEM_TRACK &&
        rule->leaf != TDH_MEM_PAGE_REMOVE) {
        snprintf(err, errlen, "stretch-retry-ms applies to the zap leaves "
                 "TDH.MEM.RANGE.BLOCK, TDH.MEM.TRACK and TDH.MEM.PAGE.REMOVE");
        return -1;
    }
    if (rule->stretch_retry_ms > TDX_INJECT_STRETCH_MAX_MS) {
        snprintf(err, errlen, "stretch-retry-ms is at most %d",
                 TDX_INJECT_STRETCH_MAX_MS);
        return -1;
    }
    pthread_mutex_lock(&inj->mutex);
    for (int i = 0; i < TDX_INJECT_MAX_RULES; i++) {
        if (!inj->status[i].used) {
            struct tdx_status_rule_slot *s = &inj->status[i];

            memset(s, 0, sizeof(*s));
            s->used = true;
            s->rule = *rule;
            /* Each rule draws from its own stream: adding a rule does
             * not change what the others decide. */
            s->prng = inj->seed ^ (0xD1B54A32D192ED03ULL * (uint64_t)(i + 1));
            s->digest = TDX_INJECT_DIGEST_INIT;
            atomic_fetch_add(&inj->num_status_rules, 1);
            id = i;
            break;
        }
    }
    pthread_mutex_unlock(&inj->mutex);
    if (id < 0) {
        snprintf(err, errlen, "all %d rule slots in use", TDX_INJECT_MAX_RULES);
    }
    return id;
}

bool tdx_inject_remove_status_rule(struct tdx_module *m, int id)
{
    struct tdx_inject *inj = &m->inject;
    bool found = false;

    if (id < 0 || id >= TDX_INJECT_MAX_RULES) {
        return false;
    }
    pthread_mutex_lock(&inj->mutex);
    if (inj->status[id].used) {
        inj->status[id].used = false;
        atomic_fetch_sub(&inj->num_status_rules, 1);
        found = true;
    }
    pthread_mutex_unlock(&inj->mutex);
    return found;
}

int64_t tdx_inject_fired(struct tdx_module *m, int id)
{
    int64_t n = -1;

    if (id < 0 || id >= TDX_INJECT_MAX_RULES) {
        return -1;
    }
    pthread_mutex_lock(&m->inject.mutex);
    if (m->inject.status[id].used) {
        n = (int64_t)m->inject.status[id].fired;
    }
    pthread_mutex_unlock(&m->inject.mutex);
    return n;
}

bool tdx_inject_get_status_rule(struct tdx_module *m, int id,
                                struct tdx_status_rule_info *out)
{
    bool found = false;

    if (id < 0 || id >= TDX_INJECT_MAX_RULES) {
        return false;
    }
    pthread_mutex_lock(&m->inject.mutex);
    if (m->inject.status[id].used) {
        out->rule = m->inject.status[id].rule;
        out->matches = m->inject.status[id].matches;
        out->fired = m->inject.status[id].fired;
        out->digest = m->inject.status[id].digest;
        memcpy(out->fired_at, m->inject.status[id].fired_at, sizeof(out->fired_at));
        out->stretched = m->inject.status[id].stretched;
        out->stretch_entries = m->inject.status[id].stretch_entries;
        found = true;
    }
    pthread_mutex_unlock(&m->inject.mutex);
    return found;
}

bool tdx_inject_get_hold(struct tdx_module *m, int id, struct tdx_hold_info *out)
{
    struct tdx_hold_slot *h;
    bool found = false, expired = false;

    if (id < 0 || id >= TDX_INJECT_MAX_RULES) {
        return false;
    }
    h = &m->inject.hold[id];
    pthread_mutex_lock(&m->inject.mutex);
    if (h->used) {
        expired = h->until_ns && m->ops.clock_ns(m->opaque) >= h->until_ns;
        out->what = h->what;
        out->key = h->key;
        out->gpa = h->gpa;
        out->mode = h->mode;
        out->until_ns = h->until_ns;
        out->busies = h->busies;
        out->busies_seen = h->busies_seen;
        found = !expired;
    }
    pthread_mutex_unlock(&m->inject.mutex);
    if (expired) {
        tdx_inject_release_hold(m, id);
    }
    return found;
}

const char *tdx_named_lock_name(enum tdx_named_lock what)
{
    static const char *const names[TDX_NAMED_LOCK_COUNT] = {
        [TDX_NAMED_GLOBAL] = "global",
        [TDX_NAMED_PKG_KEY] = "pkg-key",
        [TDX_NAMED_PAMT] = "pamt",
        [TDX_NAMED_TDR] = "tdr",
        [TDX_NAMED_TDCS_OP_STATE] = "tdcs-op-state",
        [TDX_NAMED_SEPT_TREE] = "sept-tree",
        [TDX_NAMED_SEPT_ENTRY] = "sept-entry",
        [TDX_NAMED_TD_EPOCH] = "td-epoch",
    };

    return (unsigned)what < TDX_NAMED_LOCK_COUNT ? names[what] : NULL;
}

const char *tdx_inject_when_name(enum tdx_inject_when when)
{
    static const char *const names[] = {
        [TDX_INJECT_NTH] = "nth",
        [TDX_INJECT_EVERY] = "every",
        [TDX_INJECT_PROB] = "probability",
        [TDX_INJECT_FIRST] = "first",
    };

    return (unsigned)when <= TDX_INJECT_FIRST ? names[when] : NULL;
}

const char *tdx_inject_leaf_name(int leaf)
{
    if (leaf == TDX_INJECT_ANY_LEAF) {
        return "any";
    }
    if (leaf < 0) {
        return NULL;
    }
    if (TDX_INJECT_IS_GUEST_LEAF(leaf)) {
        unsigned g = (unsigned)leaf & ~TDX_INJECT_GUEST_LEAF_FLAG;

        return g < TDX_MAX_GUEST_LEAF ? tdx_guest_leaf_name(g) : NULL;
    }
    return leaf < TDX_MAX_LEAF ? tdx_host_leaf_name((unsigned)leaf) : NULL;
}

int tdx_inject_leaf_by_name(const char *name)
{
    int leaf = tdx_host_leaf_by_name(name);

    if (leaf < 0) {
        leaf = tdx_guest_leaf_by_name(name);
        if (leaf >= 0) {
            leaf = TDX_INJECT_GUEST_LEAF(leaf);
        }
    }
    return leaf;
}

static bool rule_matches(const struct tdx_status_rule *r, const struct tdx_call *c,
                         uint32_t operand)
{
    if (r->leaf == TDX_INJECT_ANY_LEAF) {
        if (!c->host) {
            return false;
        }
    } else if (TDX_INJECT_IS_GUEST_LEAF(r->leaf) ?
               c->host || ((unsigned)r->leaf & ~TDX_INJECT_GUEST_LEAF_FLAG) != c->leaf :
               !c->host || (unsigned)r->leaf != c->leaf) {
        return false;
    }
    if (r->operand != TDX_INJECT_ANY_OPERAND && r->operand != operand) {
        return false;
    }
    if (r->lp_mask && !(c->lp < 64 && (r->lp_mask >> c->lp) & 1)) {
        return false;
    }
    if (r->tdr_pa && r->tdr_pa != c->tdr_pa) {
        return false;
    }
    if (r->gpa_hi && !(c->gpa >= r->gpa_lo && c->gpa < r->gpa_hi)) {
        return false;
    }
    if (r->spare_retries && c->retry) {
        return false;
    }
    return true;
}

uint64_t tdx_inject_digest_step(uint64_t digest, uint64_t index, bool fired)
{
    /* FNV-1a over the 8 little-endian bytes of (index << 1 | fired). */
    uint64_t v = index << 1 | (fired ? 1 : 0);

    for (int b = 0; b < 8; b++) {
        digest ^= (v >> (8 * b)) & 0xFF;
        digest *= 0x100000001B3ULL;
    }
    return digest;
}

/*
 * stretch_retry_ms (inject.h): at the first lock point of each call on an
 * LP where a stretch rule fired, the arm goes; if the call is the retry of
 * the call the rule fired at, it waits here, holding no lock, so that a
 * vCPU the kernel lets in during the retry meets nothing that keeps it out.
 */
static void stretch_retry(struct tdx_call *c)
{
    struct tdx_inject *inj = &c->m->inject;
    struct tdx_stretch_arm arm = { .armed = false };
    bool entered;

    if (!c->host || c->num_held || c->lp >= TDX_INJECT_STRETCH_LPS) {
        return;
    }
    pthread_mutex_lock(&inj->mutex);
    if (inj->stretch[c->lp].armed) {
        arm = inj->stretch[c->lp];
        inj->stretch[c->lp].armed = false;
        atomic_fetch_sub(&inj->num_stretch_armed, 1);
    }
    pthread_mutex_unlock(&inj->mutex);
    if (!arm.armed || !c->retry || c->leaf != arm.leaf ||
        c->tdr_pa != arm.tdr) {
        return;
    }
    entered = tdx_paths_stretch_retry(c->m, c->lp, arm.tdr, arm.ms);
    pthread_mutex_lock(&inj->mutex);
    if (inj->status[arm.slot].used &&
        inj->status[arm.slot].rule.stretch_retry_ms) {
        inj->status[arm.slot].stretched++;
        inj->status[arm.slot].stretch_entries += entered;
    }
    pthread_mutex_unlock(&inj->mutex);
}

uint64_t tdx_inject_at_lock_point(struct tdx_call *c, uint64_t busy_status)
{
    struct tdx_inject *inj = &c->m->inject;
    uint32_t operand = (uint32_t)(busy_status & TDX_STATUS_OPERAND_MASK);
    uint64_t result = 0;

    if (atomic_load(&inj->num_stretch_armed)) {
        stretch_retry(c);
    }

    /* The global lock reports TDX_SYS_BUSY with no operand; rules name it
     * by the SYS operand ID. */
    if (tdx_status_class(busy_status) == TDX_SYS_BUSY) {
        operand = TDX_OPERAND_ID_SYS;
    }

    if (atomic_load(&inj->num_status_rules) == 0) {
        return 0;
    }
    pthread_mutex_lock(&inj->mutex);
    for (int i = 0; i < TDX_INJECT_MAX_RULES && !result; i++) {
        struct tdx_status_rule_slot *s = &inj->status[i];
        bool fire = false;

        if (!s->used || !rule_matches(&s->rule, c, operand)) {
            continue;
        }
        s->matches++;
        switch (s->rule.when) {
        case TDX_INJECT_NTH:
            fire = s->matches == s->rule.n;
            break;
        case TDX_INJECT_EVERY:
            fire = s->matches % s->rule.n == 0;
            break;
        case TDX_INJECT_PROB:
            /* 53 random bits -> [0, 1) */
            fire = (double)(splitmix64(&s->prng) >> 11) * 0x1.0p-53 < s->rule.p;
            break;
        case TDX_INJECT_FIRST:
            fire = s->matches <= s->rule.n;
            break;
        }
        s->digest = tdx_inject_digest_step(s->digest, s->matches, fire);
        if (fire) {
            if (s->fired < TDX_INJECT_FIRED_LOG) {
                s->fired_at[s->fired] = s->matches;
            }
            s->fired++;
            result = s->rule.status ? s->rule.status : busy_status;
            if (s->rule.stretch_retry_ms && c->host &&
                c->lp < TDX_INJECT_STRETCH_LPS) {
                struct tdx_stretch_arm *a = &inj->stretch[c->lp];

                if (!a->armed) {
                    atomic_fetch_add(&inj->num_stretch_armed, 1);
                }
                *a = (struct tdx_stretch_arm) {
                    .armed = true, .slot = i, .leaf = c->leaf,
                    .tdr = c->tdr_pa, .ms = s->rule.stretch_retry_ms,
                };
            }
        }
    }
    pthread_mutex_unlock(&inj->mutex);
    return result;
}

void tdx_inject_set_resolver(struct tdx_module *m, enum tdx_named_lock what,
                             tdx_lock_resolver fn)
{
    if (what < TDX_NAMED_LOCK_COUNT) {
        m->inject.resolver[what] = fn;
    }
}

int tdx_inject_hold_lock(struct tdx_module *m, enum tdx_named_lock what,
                         uint64_t key, uint64_t gpa, enum tdx_lock_mode mode,
                         uint64_t duration_ns, char *err, size_t errlen)
{
    return tdx_inject_hold_lock_busies(m, what, key, gpa, mode, duration_ns, 0,
                                       err, errlen);
}

int tdx_inject_hold_lock_busies(struct tdx_module *m, enum tdx_named_lock what,
                                uint64_t key, uint64_t gpa,
                                enum tdx_lock_mode mode, uint64_t duration_ns,
                                uint64_t busies, char *err, size_t errlen)
{
    struct tdx_inject *inj = &m->inject;
    enum tdx_lock_kind kind;
    struct tdx_lock *lock;
    int id = -1;

    if (what >= TDX_NAMED_LOCK_COUNT || !inj->resolver[what]) {
        snprintf(err, errlen, "lock kind %d cannot be named (no owner registered)",
                 (int)what);
        return -1;
    }
    lock = inj->resolver[what](m, key, gpa, &kind);
    if (!lock) {
        const unsigned long long k = key, g = gpa;

        switch (what) {
        case TDX_NAMED_PKG_KEY:
            snprintf(err, errlen, "no such lock: package %llu does not exist "
                     "(%u packages)", k, m->desc.num_pkgs);
            break;
        case TDX_NAMED_PAMT:
            snprintf(err, errlen, "no such lock: %#llx is not in a CMR (no PAMT "
                     "entry)", k);
            break;
        case TDX_NAMED_SEPT_ENTRY:
            snprintf(err, errlen, "no such lock: %#llx is not the TDR page of an "
                     "initialized TD, or GPA %#llx is not a private GPA of it",
                     k, g);
            break;
        default:
            snprintf(err, errlen, "no such lock: %#llx is not the TDR page of a TD",
                     k);
            break;
        }
        return -1;
    }
    if (kind == TDX_LOCK_MUTEX) {
        mode = TDX_LOCK_EXCLUSIVE;
    }
    pthread_mutex_lock(&inj->mutex);
    for (int i = 0; i < TDX_INJECT_MAX_RULES; i++) {
        if (!inj->hold[i].used) {
            id = i;
            break;
        }
    }
    if (id < 0) {
        snprintf(err, errlen, "all %d hold slots in use", TDX_INJECT_MAX_RULES);
    } else if (tdx_lock_try(lock, kind, mode, true) != TDX_LOCK_OK) {
        snprintf(err, errlen, "lock is busy right now; try again");
        id = -1;
    } else {
        struct tdx_hold_slot *h = &inj->hold[id];

        h->used = true;
        h->what = what;
        h->key = key;
        h->gpa = gpa;
        h->mode = mode;
        h->lock = lock;
        h->until_ns = duration_ns ? m->ops.clock_ns(m->opaque) + duration_ns : 0;
        h->busies = busies;
        h->busies_seen = 0;
        atomic_fetch_add(&inj->num_holds, 1);
    }
    pthread_mutex_unlock(&inj->mutex);
    return id;
}

bool tdx_inject_release_hold(struct tdx_module *m, int id)
{
    struct tdx_inject *inj = &m->inject;
    bool found = false;

    if (id < 0 || id >= TDX_INJECT_MAX_RULES) {
        return false;
    }
    pthread_mutex_lock(&inj->mutex);
    if (inj->hold[id].used) {
        tdx_lock_release(inj->hold[id].lock, inj->hold[id].mode);
        inj->hold[id].used = false;
        atomic_fetch_sub(&inj->num_holds, 1);
        found = true;
    }
    pthread_mutex_unlock(&inj->mutex);
    return found;
}

void tdx_inject_note_busy(struct tdx_module *m, const struct tdx_lock *lock)
{
    struct tdx_inject *inj = &m->inject;

    pthread_mutex_lock(&inj->mutex);
    for (int i = 0; i < TDX_INJECT_MAX_RULES; i++) {
        struct tdx_hold_slot *h = &inj->hold[i];

        if (!h->used || h->lock != lock) {
            continue;
        }
        h->busies_seen++;
        if (h->busies && h->busies_seen >= h->busies) {
            /* The event the hold was waiting for: let the callers in. */
            tdx_lock_release(h->lock, h->mode);
            h->used = false;
            atomic_fetch_sub(&inj->num_holds, 1);
        }
    }
    pthread_mutex_unlock(&inj->mutex);
}

void tdx_inject_expire_holds(struct tdx_module *m)
{
    uint64_t now;

    if (atomic_load(&m->inject.num_holds) == 0) {
        return;
    }
    now = m->ops.clock_ns(m->opaque);
    for (int i = 0; i < TDX_INJECT_MAX_RULES; i++) {
        struct tdx_hold_slot *h = &m->inject.hold[i];
        bool expired;

        pthread_mutex_lock(&m->inject.mutex);
        expired = h->used && h->until_ns && now >= h->until_ns;
        pthread_mutex_unlock(&m->inject.mutex);
        if (expired) {
            tdx_inject_release_hold(m, i);
        }
    }
}

void tdx_inject_forget_td(struct tdx_module *m, uint64_t tdr_pa)
{
    for (int i = 0; i < TDX_INJECT_MAX_RULES; i++) {
        struct tdx_hold_slot *h = &m->inject.hold[i];
        bool inside;

        pthread_mutex_lock(&m->inject.mutex);
        inside = h->used && h->key == tdr_pa &&
                 (h->what == TDX_NAMED_TDCS_OP_STATE || h->what == TDX_NAMED_SEPT_TREE ||
                  h->what == TDX_NAMED_SEPT_ENTRY || h->what == TDX_NAMED_TD_EPOCH);
        pthread_mutex_unlock(&m->inject.mutex);
        if (inside) {
            tdx_inject_release_hold(m, i);
        }
    }
}

bool tdx_inject_holds(struct tdx_module *m, const struct tdx_lock *lock)
{
    bool held = false;

    pthread_mutex_lock(&m->inject.mutex);
    for (int i = 0; i < TDX_INJECT_MAX_RULES && !held; i++) {
        held = m->inject.hold[i].used && m->inject.hold[i].lock == lock;
    }
    pthread_mutex_unlock(&m->inject.mutex);
    return held;
}

const struct tdx_stats *tdx_module_stats(struct tdx_module *m)
{
    return &m->stats;
}

void tdx_module_reset_stats(struct tdx_module *m)
{
    memset(&m->stats, 0, sizeof(m->stats));
    tdx_module_reset_path_stats(m);
}
