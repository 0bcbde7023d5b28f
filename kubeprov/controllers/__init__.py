"""kubeprov's controller manager and its controllers (our implementation of kube-controller-manager)."""

from kubeprov.controllers.base import Controller
from kubeprov.controllers.config import ControllerManagerConfig
from kubeprov.controllers.manager import CONTROLLERS, ControllerManager, enabled_controllers

__all__ = ["CONTROLLERS", "Controller", "ControllerManager", "ControllerManagerConfig", "enabled_controllers"]
