"""The DR plan: tiers, workloads and what protects them, recovery runbooks, and the remediation
script (spec.md "DR planning"). Built from the inventory tables and the findings document; the
package never talks to Azure and never runs what it writes."""
