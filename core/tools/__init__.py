"""The five tools: parameter models, costs and metadata (PRODUCT.md §1)."""

from core.tools.base import TOOLS, ToolSpec, parse_params

__all__ = ["TOOLS", "ToolSpec", "parse_params"]
