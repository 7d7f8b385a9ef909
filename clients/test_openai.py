"""Firebreak's answers through the official OpenAI Python client (PyPI `openai`), a client
nobody here wrote: the gateway's /v1/chat/completions and /v1/models, on the real
binaries, with the real SmolLM2 served by `firebreak-embedder serve --chat-model`.

Run by scripts/clients-check.sh, which starts both binaries and sets FIREBREAK_URL,
FIREBREAK_LLM_URL and the gateway's tokens (FIREBREAK_TOKEN_*): the client authenticates
the way LibreChat does, with the token as its API key.
"""
import os
import unittest

import openai

from firebreak_rest import URL, incident_with_note

LLM_URL = os.environ["FIREBREAK_LLM_URL"]
AGENT = os.environ["FIREBREAK_TOKEN_AGENT"]  # answers among its scopes


def seed():
    """One resolved incident with a note saying what fixed it; its id once searchable."""
    return incident_with_note(
        "fp-client-postfix", {"alertname": "KubePodCrashLooping", "namespace": "mail", "pod": "postfix-0", "severity": "warning"},
        "Pod mail/postfix-0 is restarting: OOMKilled, exit code 137.",
        "Postfix was OOMKilled under a spam burst: raised its memory limit from 128Mi to 512Mi.", "alice",
        "postfix memory limit")


class OpenAIClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.incident = seed()
        cls.client = openai.OpenAI(base_url=URL + "/v1", api_key=AGENT, max_retries=0, timeout=300)

    def firebreak(self, obj):
        extra = obj.model_extra or {}
        self.assertIn("firebreak", extra, obj)
        return extra["firebreak"]

    def test_models_lists_the_generated_and_the_extractive_answer(self):
        ids = [m.id for m in self.client.models.list()]
        self.assertEqual(ids, ["firebreak", "firebreak-extractive"])

    def test_a_whole_answer_cites_the_incident(self):
        r = self.client.chat.completions.create(
            model="firebreak", max_tokens=64,
            messages=[{"role": "user", "content": "Postfix is OOMKilled again. Have we seen this before, and what fixed it?"}])
        self.assertTrue(r.choices[0].message.content.strip())
        fb = self.firebreak(r)
        self.assertEqual(fb["mode"], "generated", fb)
        self.assertEqual(fb["citations"][0]["id"], self.incident)
        self.assertGreater(r.usage.prompt_tokens, 50)

    def test_a_streamed_answer_ends_with_its_citations_and_usage(self):
        stream = self.client.chat.completions.create(
            model="firebreak", max_tokens=48, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "postfix exit code 137: seen before?"}])
        text, final, usage = "", None, None
        for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                if chunk.choices[0].finish_reason:
                    final = chunk
            if chunk.usage:
                usage = chunk.usage
        self.assertTrue(text.strip())
        self.assertIsNotNone(final)
        self.assertEqual(self.firebreak(final)["citations"][0]["id"], self.incident)
        self.assertGreater(usage.completion_tokens, 0)

    def test_a_librechat_shaped_conversation_and_its_title_request(self):
        # LibreChat's custom endpoint: streamed, with a `user`, the conversation so far,
        # then a separate title request.
        stream = self.client.chat.completions.create(
            model="firebreak", stream=True, user="6750c0ffee", max_tokens=48,
            messages=[{"role": "system", "content": "You are a helpful assistant."},
                      {"role": "user", "content": "the mail server is down"},
                      {"role": "assistant", "content": "Which pod is failing?"},
                      {"role": "user", "content": "postfix-0, OOMKilled. What fixed it last time?"}])
        text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
        self.assertTrue(text.strip())
        # The title request goes to the chat's own model unless titleModel says otherwise:
        # answered from the conversation, never by the LLM.
        title = self.client.chat.completions.create(
            model="firebreak", user="6750c0ffee",
            messages=[{"role": "user", "content": "Provide a concise, 5-word-or-less title for the conversation, using title case conventions. Only return the title itself.\n\nConversation:\nUser: postfix-0 OOMKilled\nAI: raise the memory limit"}])
        self.assertEqual(title.choices[0].message.content, "Postfix-0 OOMKilled")
        self.assertEqual(self.firebreak(title)["mode"], "task")

    def test_the_extractive_model_answers_without_the_llm(self):
        r = self.client.chat.completions.create(
            model="firebreak-extractive",
            messages=[{"role": "user", "content": "postfix keeps restarting with exit code 137"}])
        self.assertIn("512Mi", r.choices[0].message.content)
        self.assertEqual(self.firebreak(r)["mode"], "extractive")

    def test_errors_are_openai_errors(self):
        with self.assertRaises(openai.NotFoundError) as e:
            self.client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
        self.assertEqual(e.exception.code, "model_not_found")
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.chat.completions.create(model="firebreak", messages=[])
        self.assertEqual(e.exception.code, "empty_messages")

    def test_a_key_that_is_no_token_is_an_openai_authentication_error(self):
        stranger = openai.OpenAI(base_url=URL + "/v1", api_key="not-a-token-of-this-gateway", max_retries=0, timeout=30)
        with self.assertRaises(openai.AuthenticationError) as e:
            stranger.models.list()
        self.assertEqual(e.exception.code, "unauthorized")

    def test_the_embedders_own_chat_server_speaks_openai_too(self):
        llm = openai.OpenAI(base_url=LLM_URL + "/v1", api_key="unused", max_retries=0, timeout=300)
        r = llm.chat.completions.create(model="anything", max_tokens=16, messages=[{"role": "user", "content": "Name one Linux shell."}])
        self.assertTrue(r.choices[0].message.content.strip())
        self.assertLessEqual(r.usage.completion_tokens, 16)


if __name__ == "__main__":
    unittest.main()
