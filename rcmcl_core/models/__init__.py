"""RCMCL networks: modality encoders (E_R, E_S, E_P), heads (H_M, C, D_S), gating (Eq.4-5), the full model."""
from rcmcl_core.models.gating import AdaptiveModalityGate, fuse
from rcmcl_core.models.heads import Classifier, ProjectionHead, SkeletonDecoder
from rcmcl_core.models.pointnet import PointEncoder
from rcmcl_core.models.rcmcl import RCMCL, Output
from rcmcl_core.models.rgbd import RGBDEncoder
from rcmcl_core.models.stgcn import SkeletonEncoder, centre_skeleton

__all__ = ["AdaptiveModalityGate", "Classifier", "Output", "PointEncoder", "ProjectionHead", "RCMCL",
           "RGBDEncoder", "SkeletonDecoder", "SkeletonEncoder", "centre_skeleton", "fuse"]
