"""Evaluation: the robustness suite (accuracy and gates per condition, RDP, RGS), the paper's protocol as
resumable steps, Tables I-IV as markdown, and the data behind the result figures."""
