/*
 * tdx-emu: fault-injection knobs shared by QMP, the command line and HMP.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_TDX_EMU_INJECT_H
#define HW_TDX_EMU_INJECT_H

#include "qapi/qapi-types-tdx-emu-target.h"
#include "tdx-emu.h"

struct tdx_status_rule;

/* A leaf name ("TDH.MEM.PAGE.AUG", "tdh_mem_page_aug"), number or "any". */
bool tdx_emu_parse_leaf(const char *str, int *leaf, Error **errp);

/*
 * Validate a rule and convert it for the core. num_lps: LPs of the
 * machine, 0 when not known yet (LP indexes then only need to be < 64).
 */
bool tdx_emu_rule_to_core(const TdxEmuInjectRule *in, unsigned num_lps,
                          struct tdx_status_rule *out, Error **errp);

/* Add a rule to the running module; its id, or -1 with errp set. */
int tdx_emu_arm_rule(TdxEmuState *s, const TdxEmuInjectRule *in, Error **errp);

/*
 * The "inject" property: rules separated by ';', each a ':'-separated
 * list of key=value ("leaf=TDH.MEM.PAGE.AUG:operand=0x92:every=3").
 * An array of TdxEmuInjectRule (it frees them), or NULL with errp set.
 */
GPtrArray *tdx_emu_parse_inject(const char *str, Error **errp);

/* Arm the rules of the "inject" property, once the module exists. */
bool tdx_emu_arm_boot_rules(TdxEmuState *s, Error **errp);

/* "info tdx": armed rules and lock holds. */
void tdx_emu_print_inject(TdxEmuState *s, GString *out);

#endif
