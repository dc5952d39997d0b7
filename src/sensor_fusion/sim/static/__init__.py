"""The static world: buildings, vegetation, street furniture, curbs, guard rails as triangle meshes.

``materials`` names what a triangle is made of (LiDAR reflectivity, radar RCS, camera colour, the
class of the element it belongs to); ``meshes`` builds the pieces; ``layout`` places them along a
scenario's roads; ``world`` holds the result, its element list and the Open3D ray-casting scene.
"""

from .materials import Material, StaticClass
from .world import StaticElements, StaticWorld

__all__ = ["Material", "StaticClass", "StaticElements", "StaticWorld"]
