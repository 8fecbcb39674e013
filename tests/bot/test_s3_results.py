"""The bot with its results and inputs in S3 (moto): delivery, follow-on buttons and
/history read the files by key from the bucket, never from a local path."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from bot.pictures import Tile, history_grid_png
from bot.render import LABELS
from tests.bot.conftest import StartStudio, World, image_bytes
from tests.bot.scripted import Scripted
from tests.s3 import S3Bucket


def _s3(bucket: S3Bucket) -> dict[str, object]:
    return {"storage": f'results_url = "{bucket.url}"\nresults_endpoint = "{bucket.endpoint}"',
            "env": bucket.env}


def _by_key(bucket: S3Bucket) -> dict[str, bytes]:
    return {k.rsplit("/", 1)[1]: bucket.read(k) for k in bucket.object_keys()}


async def test_results_in_s3_are_delivered_and_followed_on(
        world: World, studio: StartStudio, s3_bucket: S3Bucket, tmp_path: Path) -> None:
    provider = Scripted()
    bot = await studio(provider, **_s3(s3_bucket))
    upload = image_bytes(64, 48, seed=3)
    ix = await world.slash("crop", {"image": world.upload("p.png", upload), "ratio": "1:1"})
    crop = await world.result_of(ix)
    job_id = crop.embeds[0]["footer"]["text"].removeprefix("job ")
    rec = await bot.engine.get_job(job_id)
    stored = _by_key(s3_bucket)
    assert stored[rec.input_key] == upload  # the upload, for a worker anywhere
    (result_key,) = [f["key"] for f in rec.result_files]
    assert crop.attachments[0][1] == stored[result_key]  # delivered from the bucket
    assert not (tmp_path / "results").exists()

    click = await world.fake.click(crop, f"luneo:palette:{job_id}", member=world.alice)
    palette = await world.result_of(click)
    assert provider.calls[-1].image_bytes == stored[result_key]  # read back by key
    assert palette.attachments

    history = await world.fake.reply_to(await world.slash("history"),
                                        lambda m: bool(m.attachments))
    [(_, grid)] = history.attachments
    jobs = await bot.engine.history(world.guild.id, world.alice.id, limit=10)
    stored = _by_key(s3_bucket)
    expected = history_grid_png([
        Tile(n, LABELS[j.tool], stored[j.result_files[0]["key"]]) for n, j in enumerate(jobs, 1)])
    assert list(Image.open(io.BytesIO(grid)).getdata()) == list(
        Image.open(io.BytesIO(expected)).getdata())  # the thumbnails came from the bucket
