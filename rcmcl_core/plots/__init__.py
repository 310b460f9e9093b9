"""Figures (matplotlib, Agg): the dataset contact sheet, t-SNE, gate timelines and robustness bars."""
