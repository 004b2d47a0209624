"""The paper's reported numbers (PAPER.md §7), for "this run vs. the paper" tables.

Each entry: what was measured, the paper's value as printed, where it appears, and how sure
PAPER.md is of it (``PAPER✓``: the text was seen; ``PAPER-mem``: recalled, to be checked
against arXiv 1412.1897v4). Pure data: reports may import it.
"""

from __future__ import annotations

from typing import TypedDict


class PaperNumber(TypedDict):
    quantity: str
    paper: str
    where: str
    status: str


PAPER: dict[str, list[PaperNumber]] = {
    "mnist-direct": [
        {"quantity": "median champion confidence at generation 200", "paper": "99.99 %",
         "where": "§3.1, Fig. 4", "status": "PAPER✓"},
        {"quantity": "generation at which every class is ≥ 99.99 %", "paper": "< 50, every run",
         "where": "§3.1", "status": "PAPER✓"},
    ],
    "mnist-cppn": [
        {"quantity": "median champion confidence at generation 200", "paper": "99.99 %",
         "where": "§3.2, Fig. 5", "status": "PAPER-mem"},  # PAPER.md §7: its wording is recalled
        {"quantity": "generation at which every class is ≥ 99.99 %",
         "paper": "a few generations", "where": "§3.2", "status": "PAPER-mem"},
    ],
    "imagenet-direct": [
        {"quantity": "median champion confidence (20,000 generations)", "paper": "21.59 %",
         "where": "§3.3, Fig. 6", "status": "PAPER-mem"},
        {"quantity": "classes ≥ 99 %", "paper": "45 of 1000", "where": "§3.3",
         "status": "PAPER-mem"},
    ],
    "imagenet-cppn": [
        {"quantity": "median champion confidence (5000 generations, 5 runs)",
         "paper": "88.11 %", "where": "§3.4, Fig. 6", "status": "PAPER-mem"},
        {"quantity": "classes ≥ 99.99 %", "paper": "many", "where": "§3.4",
         "status": "PAPER-mem"},
    ],
    "ascent-mnist": [  # the paper's ascent ran on CaffeNet only: no MNIST figure
        {"quantity": "confidence reached by gradient ascent",
         "paper": "no MNIST figure; 99.99 % on ImageNet", "where": "§3.9, Fig. 13",
         "status": "PAPER-mem"},
    ],
    "ascent-imagenet": [
        {"quantity": "confidence reached by gradient ascent", "paper": "99.99 %",
         "where": "§3.9, Fig. 13, S3–S7", "status": "PAPER-mem"},
    ],
    "retrain-mnist": [
        {"quantity": "DNN_15 still fooled (classes ≥ 99.99 %)", "paper": "yes, 99.99 %",
         "where": "§3.7, Fig. 10", "status": "PAPER-mem"},
        {"quantity": "error rate of DNN_i", "paper": "similar to DNN_1 (0.94 %)",
         "where": "supplement", "status": "PAPER-mem"},
    ],
    "retrain-imagenet": [
        {"quantity": "median confidence of images evolved against DNN_1 → DNN_2",
         "paper": "88.1 % → 11.7 %", "where": "§3.8, Fig. 11", "status": "PAPER-mem"},
        {"quantity": "unseen CPPN images put in the fooling class (the paper: 70 Picbreeder "
                     "images; ours: random initial CPPN genomes)",
         "paper": "45 of 70 (64 %)", "where": "§3.8", "status": "PAPER-mem"},
    ],
    "transfer": [
        {"quantity": "images evolved on DNN A that fool DNN B at ≥ 99.99 %",
         "paper": "some do, others are specific to DNN A (no % recalled)", "where": "§3.5",
         "status": "PAPER-mem"},
    ],
}  # fmt: skip

EXPERIMENTS = tuple(PAPER)
