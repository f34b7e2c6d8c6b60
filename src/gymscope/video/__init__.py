"""The parts of video recording that know nothing about environments.

- :mod:`gymscope.video.frames`: what a frame may look like, the file's size;
- :mod:`gymscope.video.encoder`: one ffmpeg process writing one file;
- :mod:`gymscope.video.sidecar`: the JSON record written next to each video.

:class:`gymscope.sinks.video.VideoSink` puts them together;
:class:`gymscope.wrappers.video.ScheduledRecordVideo` drives it from an env.
"""
