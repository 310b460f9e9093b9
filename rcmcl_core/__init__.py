"""rcmcl_core: the RCMCL model, losses, data and training. No ROS imports anywhere in this package."""
__version__ = "0.1.0"
