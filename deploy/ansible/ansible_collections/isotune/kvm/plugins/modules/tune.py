#!/usr/bin/python
# -*- coding: utf-8 -*-
# Apply or roll back isotune's tuning changes on a hypervisor, with Ansible's
# check and diff modes. A module rather than `command` tasks because only a
# module can say "changed" from isotune's JSON, run `tune plan` in --check
# mode and hand --diff the plan's own unified diffs.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tune
short_description: Apply or roll back the changes C(isotune tune) can make
description:
  - With I(state=applied), runs C(isotune tune plan --json) and applies, with
    C(isotune tune apply --yes --only ID), the planned changes whose change id
    or finding id is in I(allow). Changes not allowed are never applied.
  - Reports C(changed) only when C(apply) journalled a change; a second run
    finds nothing left to apply and reports no change.
  - In check mode only the plan runs; C(changed) says whether apply would
    change something. With C(--diff) the plan's unified diffs are shown
    (for a libvirt domain the diff of its persistent XML).
  - With I(state=rolled_back), runs C(isotune tune rollback --all); C(changed)
    only when a journalled value was restored. In check mode C(tune status)
    says whether anything is left to roll back.
version_added: "1.0.0"
author: isotune
options:
  state:
    description: Apply the allowed changes, or roll every journalled change back.
    type: str
    choices: [applied, rolled_back]
    default: applied
  allow:
    description:
      - Change ids (C(readahead:sda)) or finding ids (C(cdrom.ide-bus)) that may
        be applied. Empty applies nothing.
    type: list
    elements: str
    default: []
  binary:
    description: The isotune binary.
    type: path
    default: /usr/local/bin/isotune
  state_dir:
    description: C(--state-dir), where the journal lives.
    type: path
    default: /var/lib/isotune
  root:
    description: C(--root), the prefix of every file isotune writes or scans.
    type: path
    default: /
  connect:
    description: C(--connect URI), the libvirt whose domains to plan for.
    type: str
  domains:
    description: C(--domain NAME), only these libvirt domains (repeatable).
    type: list
    elements: str
    default: []
  proxmox:
    description: C(--proxmox DIR), a Proxmox config tree (its findings are manual).
    type: path
  isos:
    description: C(--iso PATH), ISOs whose storage chain to examine.
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
- name: Move IDE cdroms of two domains off IDE
  isotune.kvm.tune:
    allow: [cdrom.ide-bus]
    connect: qemu:///system
    domains: [web1, web2]

- name: Undo everything isotune applied on this host
  isotune.kvm.tune:
    state: rolled_back
"""

RETURN = r"""
changes:
  description: Ids of the changes applied (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
skipped:
  description: Ids of planned changes not applied because I(allow) does not name them.
  returned: state=applied
  type: list
  elements: str
manual:
  description: The plan's findings that need a person (C(tune plan --json) manual list).
  returned: state=applied
  type: list
  elements: dict
transaction:
  description: The journal transaction of this apply (for C(isotune tune rollback ID)).
  returned: when something was applied
  type: str
restored:
  description: C(tune rollback --json) restored items.
  returned: state=rolled_back and not check mode
  type: list
  elements: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule


def isotune(module, args, ok_rc=(0,)):
    """Runs the binary with `args`, returns (parsed JSON stdout, rc)."""
    cmd = [module.params["binary"]] + args
    rc, out, err = module.run_command(cmd)
    if rc not in ok_rc:
        module.fail_json(
            msg="%s exited %d: %s" % (" ".join(cmd), rc, err.strip()),
            rc=rc,
            stdout=out,
            stderr=err,
        )
    try:
        return json.loads(out), rc
    except ValueError as e:
        module.fail_json(msg="%s printed no JSON (%s)" % (" ".join(cmd), e), stdout=out, stderr=err)


def journal_args(p):
    args = ["--json", "--state-dir", p["state_dir"]]
    if p["root"]:
        args += ["--root", p["root"]]
    return args


def select_args(p):
    args = []
    if p["connect"]:
        args += ["--connect", p["connect"]]
    for d in p["domains"]:
        args += ["--domain", d]
    if p["proxmox"]:
        args += ["--proxmox", p["proxmox"]]
    for i in p["isos"]:
        args += ["--iso", i]
    return args


def target_name(target):
    if target.get("kind") == "domain":
        return "domain %s disk %s" % (target.get("domain"), target.get("element"))
    return str(target.get("path"))


def diff_text(changes):
    """The plan's diffs: libvirt's XML diff, else current -> new of the target."""
    parts = []
    for c in changes:
        domain = c.get("domain") or {}
        if domain.get("diff"):
            parts.append(domain["diff"])
            continue
        name = target_name(c.get("target", {}))
        current = c.get("current")
        before = "(no file)" if current is None else current
        parts.append("--- %s (now)\n+++ %s (after apply)\n-%s\n+%s\n" % (name, name, before, c.get("new")))
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts)


def applied(module):
    p = module.params
    plan, _ = isotune(module, ["tune", "plan"] + journal_args(p) + select_args(p))
    allow = set(p["allow"])
    chosen = [c for c in plan.get("changes", []) if c["id"] in allow or c["finding"] in allow]
    result = dict(
        changed=bool(chosen),
        changes=[c["id"] for c in chosen],
        skipped=[c["id"] for c in plan.get("changes", []) if c not in chosen],
        manual=plan.get("manual", []),
    )
    if module._diff and chosen:
        result["diff"] = dict(prepared=diff_text(chosen))
    if module.check_mode or not chosen:
        module.exit_json(**result)
    only = []
    for c in chosen:
        only += ["--only", c["id"]]
    report, _ = isotune(module, ["tune", "apply", "--yes"] + journal_args(p) + select_args(p) + only)
    entries = report.get("entries", [])
    result["changed"] = bool(entries)
    result["changes"] = [e["change"]["id"] for e in entries]
    if report.get("transaction"):
        result["transaction"] = report["transaction"]
    module.exit_json(**result)


def rolled_back(module):
    p = module.params
    if module.check_mode:
        # status exits 1 when a journal file cannot be used: still JSON.
        status, _ = isotune(module, ["tune", "status"] + journal_args(p), ok_rc=(0, 1))
        pending = [
            i["entry"]["change"]["id"]
            for i in status.get("items", [])
            if i["entry"]["state"] in ("applied", "pending")
        ]
        module.exit_json(changed=bool(pending), changes=pending)
    report, rc = isotune(module, ["tune", "rollback", "--all"] + journal_args(p), ok_rc=(0, 1))
    restored = report.get("restored", [])
    done = [i for i in restored if i.get("action") != "failed"]
    result = dict(
        changed=bool(done),
        changes=[i["change"] for i in done],
        restored=restored,
    )
    if rc != 0:
        result["journal_issues"] = report.get("journal_issues", [])
        module.fail_json(msg="isotune tune rollback could not restore everything", **result)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["applied", "rolled_back"], default="applied"),
            allow=dict(type="list", elements="str", default=[]),
            binary=dict(type="path", default="/usr/local/bin/isotune"),
            state_dir=dict(type="path", default="/var/lib/isotune"),
            root=dict(type="path", default="/"),
            connect=dict(type="str"),
            domains=dict(type="list", elements="str", default=[]),
            proxmox=dict(type="path"),
            isos=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    if module.params["state"] == "applied":
        applied(module)
    else:
        rolled_back(module)


if __name__ == "__main__":
    main()
