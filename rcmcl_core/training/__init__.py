"""Training: the losses (Eq.1-3, 6), objectives, the one training loop (pretrain / finetune), the linear
probe, baselines and ablations, and torchrun plumbing."""
